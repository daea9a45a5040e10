"""WhatsApp exports as people export them: every locale, platform, clock and mark.

The first tests pin the reported cases (shared/cases/1, 2, 3, 4, 6, 8, 9; their inputs are
rebuilt here byte for byte, invisible marks written as escapes). The rest test the kinds:
a matrix of generated exports (platform x locale x digits x clock x seconds x marks x line
ends), every phrase of the locale table, system lines under a group name or a phone number,
month-first dates, files that look like chats but do not parse, and pseudonyms.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pytest

from darija_assets.crawler.runner import merge_corpus
from darija_assets.text.importers import (
    CHAT_PHRASES,
    MENTION_MASK,
    PHONE_MASK,
    RAW_CORPUS_SCHEMA,
    ImportOptions,
    decide_date_order,
    import_file,
)

OPTIONS = ImportOptions(crawled_at="2026-11-21T22:00:00+00:00")
LRM, RLM, NBSP, NNBSP, ACOMMA = "\u200e", "\u200f", "\u00a0", "\u202f", "\u060c"


def read(tmp_path, text: str, name: str = "chat.txt", newline: str = "\n", **options):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return import_file(path, "chat", ImportOptions(crawled_at=OPTIONS.crawled_at, **options))


def rows(result) -> list[tuple]:
    return result.frame.select("raw_text", "publish_date", "speaker").rows()


def quarantined(result) -> dict[int, str]:
    return dict(zip(result.quarantine["line"], result.quarantine["reason"]))


def assert_no_names(result, names: list[str]) -> None:
    """No name anywhere in the rows, the quarantine table or the stats (the temporary
    directory, named by pytest, left out of paths and urls)."""
    folder = Path(result.stats["path"]).parent
    cells = [
        str(v) for frame in (result.frame, result.quarantine) for row in frame.rows() for v in row
    ]
    cells += [str(v) for v in result.stats.values()]
    cells = [cell.replace(folder.as_uri(), "").replace(str(folder), "") for cell in cells]
    leaks = [(name, cell) for name in names for cell in cells if name in cell]
    assert not leaks


# --- the reported cases (expected values from each case's README) -----------------------

CASES = {
    "1_wa_android_12h_nnbsp": (
        (
            f"09/10/2023, 11:11{NNBSP}am - Sara: واش نتي لاباس؟\n"
            f"09/10/2023, 12:57{NNBSP}pm - Omar: الحمد لله بخير\n"
        ),
        [
            ("واش نتي لاباس؟", "2023-10-09T11:11:00", "speaker_1"),
            ("الحمد لله بخير", "2023-10-09T12:57:00", "speaker_2"),
        ],
        [],
        ["Sara", "Omar"],
    ),
    "2_wa_ios_12h_nnbsp": (
        (
            f"[14/10/2021, 3:34:09{NNBSP}PM] Sara: واش نتي لاباس؟\n"
            f"[14/10/2021, 3:35:10{NNBSP}PM] Omar: الحمد لله\nبخير\n"
        ),
        [
            ("واش نتي لاباس؟", "2021-10-14T15:34:09", "speaker_1"),
            ("الحمد لله\nبخير", "2021-10-14T15:35:10", "speaker_2"),
        ],
        [],
        ["Sara", "Omar"],
    ),
    "3_wa_spanish_am_pm_dots": (
        "19/08/26 8:26 a. m. - Rafa: فين نتلاقاو؟\n19/08/26 8:27 p. m. - Rafa: غدا فالصباح\n",
        [
            ("فين نتلاقاو؟", "2026-08-19T08:26:00", "speaker_1"),
            ("غدا فالصباح", "2026-08-19T20:27:00", "speaker_1"),
        ],
        [],
        ["Rafa"],
    ),
    "4_wa_ios_arabic_locale": (
        (
            f"[{RLM}18{RLM}/3{RLM}/2022{ACOMMA} 14:56:01] مجموعة الدرب: {RLM}الرسائل والمكالمات"
            " مشفرة تمامًا بين الطرفين\r\n"
            f"[{RLM}27{RLM}/3{RLM}/2022{ACOMMA} 21:41:35] سلمى: واش نتي لاباس؟\r\n"
            f"{RLM}[{RLM}27{RLM}/3{RLM}/2022{ACOMMA} 21:41:55] سلمى: {RLM}لم يتم إدراج الصورة\r\n"
            f"{RLM}[{RLM}27{RLM}/3{RLM}/2022{ACOMMA} 21:49:16] سلمى: {RLM}تم حذف الملصقات\r\n"
            f"[{RLM}27{RLM}/3{RLM}/2022{ACOMMA} 21:50:00] عمر: الحمد لله بخير\r\n"
        ),
        [
            ("واش نتي لاباس؟", "2022-03-27T21:41:35", "speaker_1"),
            ("الحمد لله بخير", "2022-03-27T21:50:00", "speaker_2"),
        ],
        [1, 3, 4],
        ["سلمى", "عمر", "مجموعة الدرب"],
    ),
    "6_wa_android_arabic_comma": (
        (
            f"25/7/2024{ACOMMA} 10:53 - سلمى: واش نتي لاباس؟\n"
            f"25/7/2024{ACOMMA} 10:54 - عمر: الحمد لله بخير\n"
            f"25/7/2024{ACOMMA} 10:55 - عمر: <تم استبعاد الوسائط>\n"
        ),
        [
            ("واش نتي لاباس؟", "2024-07-25T10:53:00", "speaker_1"),
            ("الحمد لله بخير", "2024-07-25T10:54:00", "speaker_2"),
        ],
        [3],
        ["سلمى", "عمر"],
    ),
    "8_wa_edited_marker": (
        (
            "03/06/2023, 6:12 am - Sara: راني حزينة بزاف <This message was edited>\n"
            "03/06/2023, 6:13 am - Omar: علاش؟ شنو وقع <تم تعديل هذه الرسالة>\n"
            "03/06/2023, 6:14 am - Sara: ماعرفتش\n"
        ),
        [
            ("راني حزينة بزاف", "2023-06-03T06:12:00", "speaker_1"),
            ("علاش؟ شنو وقع", "2023-06-03T06:13:00", "speaker_2"),
            ("ماعرفتش", "2023-06-03T06:14:00", "speaker_1"),
        ],
        [],
        ["Sara", "Omar", "This message was edited", "تعديل"],
    ),
    "9_wa_lrm_media_lines": (
        (
            "[19/11/2022, 10:00:01] Sara: صباح الخير\n"
            f"{LRM}[19/11/2022, 10:00:05] Sara: {LRM}<attached: 00000012-PHOTO-2022-11-19-10-00-05.jpg>\n"
            f"[19/11/2022, 10:00:09] Omar: {LRM}image omitted\n"
            "[19/11/2022, 10:01:00] Omar: مرحبا\n"
        ),
        [
            ("صباح الخير", "2022-11-19T10:00:01", "speaker_1"),
            ("مرحبا", "2022-11-19T10:01:00", "speaker_2"),
        ],
        [2, 3],
        ["Sara", "Omar"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_reported_case(tmp_path, case):
    text, expected, quarantine_lines, names = CASES[case]
    result = read(tmp_path, text)
    assert result.stats["format"] == "whatsapp"
    assert rows(result) == expected
    assert sorted(quarantined(result)) == quarantine_lines
    assert_no_names(result, names)


def test_case_4_reasons_name_the_notice_and_the_placeholders(tmp_path):
    result = read(tmp_path, CASES["4_wa_ios_arabic_locale"][0])
    assert quarantined(result) == {
        1: "line 1: system message (the end-to-end encryption notice) [ar] under a sender name",
        3: "line 3: media placeholder, no text [ar]",
        4: "line 4: media placeholder, no text [ar]",
    }


# --- the whole kind: a matrix of generated exports --------------------------------------

#: per locale: date, comma after it, AM/PM words, notice, media placeholder (Android, iOS),
#: edited marker, a group event
LOCALES = {
    "en": ("13/03/2024", ",", ("AM", "PM"), ("Messages and calls are end-to-end encrypted. No one"
           " outside of this chat, not even WhatsApp, can read or listen to them."),
           ("<Media omitted>", "image omitted"), "<This message was edited>", "Sara Benali added Omar"),
    "fr": ("13/03/2024", ",", ("AM", "PM"), ("Les messages et les appels sont chiffrés de bout en"
           " bout. Aucun tiers, pas même WhatsApp, ne peut les lire ou les écouter."),
           ("<Médias omis>", "image absente"), "<Ce message a été modifié>", "Sara Benali a ajouté Omar"),
    "es": ("13/3/24", "", (f"a.{NBSP}m.", f"p.{NBSP}m."), ("Los mensajes y las llamadas están"
           " cifrados de extremo a extremo. Nadie fuera de este chat puede leerlos."),
           ("<Multimedia omitido>", "imagen omitida"), "<Se editó este mensaje.>", "Sara Benali añadió a Omar"),
    "ar": ("13/3/2024", ACOMMA, ("ص", "م"), ("الرسائل والمكالمات مشفرة تمامًا بين الطرفين، بحيث لا"
           " يستطيع أحد خارج هذه الدردشة قراءتها."), ("<تم استبعاد الوسائط>", "لم يتم إدراج الصورة"),
           "<تم تعديل هذه الرسالة>", "Sara Benali أضاف عمر"),
}  # fmt: skip
DIGITS = {"western": "0123456789", "arabic_indic": "٠١٢٣٤٥٦٧٨٩", "eastern": "۰۱۲۳۴۵۶۷۸۹"}
SARA, PHONE, GROUP = "Sara Benali", "+212 6 12 34 56 78", "Darija Group"
#: (hour, minute, second) of the headers on lines 1, 2, 3, 5, 6, 7, 8 (line 4 continues line 3)
MOMENTS = [(8, 0, 0), (9, 5, 0), (14, 30, 7), (14, 31, 0), (15, 0, 0), (15, 1, 0), (23, 59, 0)]


def stamp(locale, digits, clock, seconds, marks, moment, next_day=False) -> tuple[str, str]:
    """The date and time of a header as the phone writes them."""
    date, _, (am, pm), *_ = LOCALES[locale]
    if next_day:
        date = date.replace("13", "14", 1)
    hour, minute, second = moment
    if clock == 12:
        shown = f"{(hour % 12) or 12}:{minute:02d}"
        suffix = (NNBSP if locale != "ar" else " ") + (pm if hour >= 12 else am)
    else:
        shown, suffix = f"{hour:02d}:{minute:02d}", ""
    shown += f":{second:02d}" if seconds else ""
    table = str.maketrans("0123456789", DIGITS[digits])
    date, shown = date.translate(table), shown.translate(table)
    if marks:  # before and inside the date and the time, and before AM/PM
        mark = RLM if locale == "ar" else LRM
        date = mark + date.replace("/", f"{mark}/")
        shown = mark + shown.replace(":", f"{mark}:") + mark
    return date, shown + suffix


def export(platform, locale, digits, clock, seconds, marks) -> str:
    _, comma, _, notice, media, edited, event = LOCALES[locale]
    mark = (RLM if locale == "ar" else LRM) if marks else ""

    def header(moment, sender=None, next_day=False) -> str:
        date, time = stamp(locale, digits, clock, seconds, marks, moment, next_day)
        if platform == "ios":
            head = f"{mark}[{date}{comma} {time}] "
        else:
            head = f"{date}{comma} {time} - "
        return head + (f"{sender}: " if sender else "")

    system = (lambda text: header(m, GROUP) + LRM + text) if platform == "ios" else None
    lines = []
    for number, m in enumerate(MOMENTS, start=1):
        if number == 1:
            lines.append(system(notice) if system else header(m) + notice)
        elif number == 2:
            lines.append(header(m, SARA) + "سلام، كيداير؟")
        elif number == 3:
            lines.append(header(m, PHONE) + "لاباس الحمد لله")
            lines.append("ونتي؟")
        elif number == 4:
            lines.append(
                header(m, SARA) + (LRM if platform == "ios" else "") + media[platform == "ios"]
            )
        elif number == 5:
            lines.append(header(m, PHONE) + f"راني مزيان {mark}{edited}")
        elif number == 6:
            lines.append(system(event) if system else header(m) + event)
        else:
            mention = f"@{PHONE}" if platform == "android" else f"@\u2068{PHONE}\u2069"
            phone = "0612345678".translate(str.maketrans("0123456789", DIGITS[digits]))
            lines.append(header(m, SARA, next_day=True) + f"فين {mention}؟ عيط ليا {phone}")
    return "\n".join(lines) + "\n"


def expected_rows(seconds: bool) -> list[tuple]:
    def iso(day, moment):
        hour, minute, second = moment
        return f"2024-03-{day}T{hour:02d}:{minute:02d}:{second if seconds else 0:02d}"

    return [
        ("سلام، كيداير؟", iso(13, MOMENTS[1]), "speaker_1"),
        ("لاباس الحمد لله\nونتي؟", iso(13, MOMENTS[2]), "speaker_2"),
        ("راني مزيان", iso(13, MOMENTS[4]), "speaker_2"),
        (f"فين @speaker_2؟ عيط ليا {PHONE_MASK}", iso(14, MOMENTS[6]), "speaker_1"),
    ]


#: platform x locale (Arabic with each digit set) x clock x seconds x marks x line ends
MATRIX = [
    (platform, locale, digits, clock, seconds, marks, newline)
    for platform, locale, digits, clock, seconds, marks, newline in itertools.product(
        ("android", "ios"), LOCALES, DIGITS, (12, 24), (True, False), (True, False), ("\n", "\r\n")
    )
    if locale == "ar" or digits == "western"
]


@pytest.mark.parametrize("platform, locale, digits, clock, seconds, marks, newline", MATRIX)
def test_export_matrix(tmp_path, platform, locale, digits, clock, seconds, marks, newline):
    text = export(platform, locale, digits, clock, seconds, marks)
    result = read(tmp_path, text, newline=newline)
    assert result.stats["format"] == "whatsapp"
    assert result.stats["date_order"] == "DMY"
    assert rows(result) == expected_rows(seconds)
    assert result.frame["url"].str.extract(r"#L(\d+)$").to_list() == ["2", "3", "6", "8"]
    reasons = quarantined(result)
    assert sorted(reasons) == [1, 5, 7]
    assert "encryption notice" in reasons[1]
    assert reasons[5].startswith("line 5: media placeholder")
    assert reasons[7].startswith("line 7: system")
    assert result.stats["edited_markers_removed"] == 1
    assert_no_names(result, ["Sara", "Benali", "Darija Group", "212", "0612345678", "٠٦١٢"])


# --- the locale table, phrase by phrase ---------------------------------------------------


def fill(text: str) -> str:
    return text.replace("{name}", "Sara").replace("{text}", "Omar")


@pytest.mark.parametrize(
    "phrase",
    [p for p in CHAT_PHRASES if p.kind in ("media", "deleted", "pending")],
    ids=lambda p: p.text,
)
@pytest.mark.parametrize("platform", ("android", "ios"))
def test_every_placeholder_is_quarantined(tmp_path, phrase, platform):
    body = ("Resume.pdf • 2 pages " if phrase.where == "end" else "") + fill(phrase.text)
    if platform == "ios":
        chat = f"[13/03/2024, 10:00:00] Sara: {LRM}{body}\n[13/03/2024, 10:01:00] Sara: واخا\n"
    else:
        chat = f"13/03/2024, 10:00 - Sara: {body}\n13/03/2024, 10:01 - Sara: واخا\n"
    result = read(tmp_path, chat)
    assert rows(result) == [("واخا", "2024-03-13T10:01:00", "speaker_1")]
    expected = {"media": "media placeholder", "deleted": "deleted message", "pending": "message"}
    (reason,) = quarantined(result).values()
    assert reason.startswith(f"line 1: {expected[phrase.kind]}")
    assert reason.endswith(f"no text [{phrase.locale}]")


@pytest.mark.parametrize(
    "media", ("IMG-20240313-WA0001.jpg (file attached)", f"{LRM}<attached: 00000012-PHOTO.jpg>")
)
def test_a_captioned_media_line_keeps_its_caption(tmp_path, media):
    result = read(tmp_path, f"[13/03/2024, 10:00:00] Sara: {media}\nشوف هاد التصويرة\n")
    assert rows(result) == [("شوف هاد التصويرة", "2024-03-13T10:00:00", "speaker_1")]
    assert quarantined(result) == {}


@pytest.mark.parametrize(
    "phrase", [p for p in CHAT_PHRASES if p.kind == "edited"], ids=lambda p: p.text
)
@pytest.mark.parametrize("before", (" ", f" {LRM}", f"\n{RLM}"))
def test_every_edited_marker_is_stripped_and_the_message_kept(tmp_path, phrase, before):
    result = read(tmp_path, f"13/03/2024, 10:00 - Sara: صافي تفاهمنا{before}{phrase.text}\n")
    assert rows(result) == [("صافي تفاهمنا", "2024-03-13T10:00:00", "speaker_1")]
    assert result.stats["edited_markers_removed"] == 1


@pytest.mark.parametrize(
    "phrase",
    [p for p in CHAT_PHRASES if p.kind in ("encryption", "event", "call")],
    ids=lambda p: p.text,
)
@pytest.mark.parametrize("sender", ("", "Darija Group: ", "+212 6 12 34 56 78: "))
def test_every_system_phrase_is_quarantined_without_a_sender_or_under_one(tmp_path, phrase, sender):
    """Android writes system lines with no sender; iOS under the chat's name or a number,
    with U+200E before the text (older iOS exports have no mark before the notice)."""
    mark = LRM if sender else ""
    text = fill(phrase.text) + (" Tap to learn more." if phrase.where == "start" else "")
    result = read(
        tmp_path,
        f"[13/03/2024, 09:59:00] {sender}{mark}{text}\n[13/03/2024, 10:00:00] Omar: سلام\n",
    )
    assert rows(result) == [("سلام", "2024-03-13T10:00:00", "speaker_1")]
    assert quarantined(result)[1].startswith("line 1: system message (")
    assert_no_names(result, ["Darija Group", "212", "Omar"])


def test_system_lines_under_a_name_with_and_without_the_mark(tmp_path):
    result = read(
        tmp_path,
        "[13/03/2024, 09:00:00] +212 6 12 34 56 78: Les messages et les appels sont chiffrés de"
        " bout en bout.\n"  # no mark: an older iOS export (whats_json french_ios.txt)
        f'[13/03/2024, 09:01:00] Darija Group: {LRM}Sara changed the subject to "x: y"\n'
        f"[13/03/2024, 09:02:00] Darija Group: {RLM}تم تغيير شيء ما\n"  # unknown, but marked
        "[13/03/2024, 09:03:00] Sara: I added sugar\n"  # a person's words: no mark, kept
        '13/03/2024, 09:04 - Sara changed the subject from "a" to "b: c"\n',
    )
    assert rows(result) == [("I added sugar", "2024-03-13T09:03:00", "speaker_1")]
    assert quarantined(result) == {
        1: "line 1: system message (the end-to-end encryption notice) [fr] under a sender name",
        2: "line 2: system message (a group or contact event) [en] under a sender name",
        3: "line 3: system or media line (starts with U+200F), not a known WhatsApp string",
        5: "line 5: system message (a group or contact event) [en]",
    }


# --- day and month order ------------------------------------------------------------------


def test_month_first_dates_are_detected_from_the_file(tmp_path):
    result = read(
        tmp_path,
        "[3/5/24, 9:00:00 PM] Sara: لول\n[3/14/24, 9:01:00 PM] Omar: تاني\n",
    )
    assert result.stats["date_order"] == "MDY"
    assert result.stats["date_order_basis"] == "a second field above 12"
    assert [r[1] for r in rows(result)] == ["2024-03-05T21:00:00", "2024-03-14T21:01:00"]


def test_order_from_dates_that_run_forward(tmp_path):
    # 1/2 -> 2/1 -> 3/1: forward only as months first (Jan 2, Feb 1, Mar 1).
    chat = "1/2/24, 10:00 - Sara: ا\n2/1/24, 10:00 - Sara: ب\n3/1/24, 10:00 - Sara: ج\n"
    result = read(tmp_path, chat)
    assert result.stats["date_order"] == "MDY"
    assert result.stats["date_order_basis"].startswith("dates run forward only in MDY order")
    assert result.frame["publish_date"].to_list()[1] == "2024-02-01T10:00:00"


def test_ambiguous_order_is_reported_and_the_option_wins(tmp_path, caplog):
    chat = "5/3/24, 10:00 - Sara: ا\n5/3/24, 11:00 - Sara: ب\n"
    with caplog.at_level("WARNING"):
        result = read(tmp_path, chat)
    assert result.stats["date_order"] == "DMY"
    assert result.stats["date_order_basis"].startswith("ambiguous")
    assert "ambiguous" in caplog.text
    assert result.frame["publish_date"][0] == "2024-03-05T10:00:00"
    forced = read(tmp_path, chat, date_order="MDY")
    assert forced.stats["date_order_basis"] == "date_order option"
    assert forced.frame["publish_date"][0] == "2024-05-03T10:00:00"


def test_decide_date_order_edge_cases():
    assert decide_date_order([(2024, 3, 5)], None) == ("YMD", "four-digit first field")
    with pytest.raises(ValueError, match="set date_order"):
        decide_date_order([(13, 1, 24), (1, 13, 24)], None)


def test_a_date_that_does_not_exist_is_quarantined(tmp_path):
    result = read(tmp_path, "31/02/2024, 10:00 - Sara: ا\n13/02/2024, 10:00 - Sara: ب\n")
    assert rows(result) == [("ب", "2024-02-13T10:00:00", "speaker_1")]
    assert quarantined(result)[1].startswith("line 1: date 31/02/2024 10:00 is not a moment in DMY")


# --- looks like a chat but does not parse ----------------------------------------------------


def test_bom_marks_and_a_leading_notice_do_not_hide_the_chat(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + (
            f"{LRM}Messages and calls are end-to-end encrypted.\n\n"
            f"{RLM}[{RLM}13/3/2024{ACOMMA} 10:00:00] Sara: سلام\n"
        ).encode()
    )
    result = import_file(path, "chat", OPTIONS)
    assert result.stats["format"] == "whatsapp"
    assert rows(result) == [("سلام", "2024-03-13T10:00:00", "speaker_1")]
    assert quarantined(result) == {1: "line 1: text before the first message header"}


def test_a_chat_in_an_unknown_stamp_layout_is_refused_not_read_as_text(tmp_path):
    chat = "13.03.2024 um 10:00 Uhr - Sara: سلام\n13.03.2024 um 10:01 Uhr - Omar: لاباس\n"
    with pytest.raises(ValueError, match=r"line 1 starts with a date and time like a chat export"):
        read(tmp_path, chat)
    forced = read(tmp_path, chat, fmt="whatsapp")
    assert forced.frame.height == 0
    assert quarantined(forced) == {
        1: "line 1: starts with a date and time but is not a message header",
        2: "line 2: starts with a date and time but is not a message header",
    }


def test_other_stamp_spellings(tmp_path):
    result = read(
        tmp_path,
        "13/03/2024 à 10:00 - Sara: ا\n"  # French "à"
        "13.03.24, 10.01 - Sara: ب\n"  # dots in the date and the time
        "2024-03-13, 10:02 \u2013 Sara: ج\n",  # year first, en dash
    )
    assert [r[1] for r in rows(result)] == [
        "2024-03-13T10:00:00",
        "2024-03-13T10:01:00",
        "2024-03-13T10:02:00",
    ]


def test_an_unparsed_stamp_line_is_not_glued_to_the_previous_message(tmp_path):
    result = read(tmp_path, "13/03/2024, 10:00 - Sara: سلام\n13/03/2024 10h01 Omar: لاباس\n")
    assert rows(result) == [("سلام", "2024-03-13T10:00:00", "speaker_1")]
    assert quarantined(result) == {
        2: "line 2: starts with a date and time but is not a message header"
    }


# --- pseudonyms, mentions, phone numbers ----------------------------------------------------


def test_pseudonyms_mentions_phone_numbers_and_the_file_name(tmp_path):
    result = read(
        tmp_path,
        "13/03/2024, 10:00 - ~\u202fSara Benali: سلام @Omar و @\u2068Nadia B\u2069\n"
        "13/03/2024, 10:01 - Omar: واش @sara benali جات؟ @212612345678\n"
        "13/03/2024, 10:02 - +212 6 12 34 56 78: أنا هنا، عيط ليا +33 6 11 22 33 44\n"
        "13/03/2024, 10:03 - Sara Benali: مرسي، الساعة 10:03 بين 2019 2020 @Karim\n",
        name="WhatsApp Chat with Sara Benali.txt",
    )
    assert rows(result) == [
        (f"سلام @speaker_2 و {MENTION_MASK}", "2024-03-13T10:00:00", "speaker_1"),
        ("واش @speaker_1 جات؟ @speaker_3", "2024-03-13T10:01:00", "speaker_2"),
        (f"أنا هنا، عيط ليا {PHONE_MASK}", "2024-03-13T10:02:00", "speaker_3"),
        (f"مرسي، الساعة 10:03 بين 2019 2020 {MENTION_MASK}", "2024-03-13T10:03:00", "speaker_1"),
    ]
    assert result.frame["url"][0].endswith("/WhatsApp%20Chat%20with%20speaker_1.txt#L1")
    assert result.stats["speakers"] == 3
    assert result.stats["phone_numbers_masked"] == 1
    assert result.stats["mentions_masked"] == 2
    assert_no_names(result, ["Sara", "sara", "Omar", "Nadia", "Karim", "212", "+33"])


def test_speaker_is_null_outside_chats_and_merge_keeps_it(tmp_path):
    chat = read(tmp_path, "13/03/2024, 10:00 - Sara: سلام\n")
    assert chat.frame.schema == RAW_CORPUS_SCHEMA
    text = tmp_path / "story.txt"
    text.write_text("قصة\n", encoding="utf-8")
    assert import_file(text, "s", OPTIONS).frame["speaker"].to_list() == [None]

    old = chat.frame.drop("speaker").with_columns(url=pl.lit("file:///old#L1"))
    merged, counts = merge_corpus(old, chat.frame)  # a table written before the column
    assert counts["new"] == 1 and counts["total"] == 2
    assert dict(zip(merged["url"], merged["speaker"])) == {
        "file:///old#L1": None,
        chat.frame["url"][0]: "speaker_1",
    }
    crawl = chat.frame.drop("speaker").with_columns(url=pl.lit("http://x/1"))
    merged, _ = merge_corpus(merged, crawl)  # a crawl has no speaker column
    assert merged.height == 3 and merged.schema["speaker"] == pl.String
