"""clean_frame: PyArabic semantics in polars, web noise stripped, nothing dropped unseen.

The letter rules are re-implemented as polars expressions for speed, so the first tests
hold them to pyarabic.araby itself on varied random text; the rest pin exact outputs on
hand-written Darija and the quarantine/stats contract the clean_text asset reports.
"""

from __future__ import annotations

import random

import polars as pl
import pytest
from pyarabic import araby

from darija_assets.text.normalize import CleanOptions, clean_frame, clean_series, pyarabic_expr

# Every character the PyArabic rules touch, mixed with ordinary letters, Latin and spaces.
SPECIAL = list("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0640\ufefb\ufef7\ufef9\ufef5")
SPECIAL += list("\u0622\u0623\u0625\u0624\u0626\u0621\u0654\u0655\u0649\u0629")
ORDINARY = list("ابتثجحخدذرزسشصضطظعغفقكلمنهوي") + list("abc 3 7 ") + ["  ", "\n"]


def random_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    alphabet = SPECIAL + ORDINARY
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(count)]


def pyarabic_reference(text: str, options: CleanOptions) -> str:
    if options.normalize_ligatures:
        text = araby.normalize_ligature(text)
    if options.strip_tashkeel:
        text = araby.strip_tashkeel(text)
    if options.strip_tatweel:
        text = araby.strip_tatweel(text)
    if options.normalize_hamza:
        text = araby.normalize_hamza(text, method="tasheel")
    return text


@pytest.mark.parametrize(
    "options",
    [
        CleanOptions(),
        CleanOptions(strip_tashkeel=False),
        CleanOptions(normalize_hamza=False, strip_tatweel=False),
        CleanOptions(normalize_ligatures=False),
    ],
)
def test_polars_rules_equal_pyarabic_functions(options):
    texts = random_texts(400)
    got = pl.DataFrame({"t": texts}).select(pyarabic_expr(pl.col("t"), options))["t"].to_list()
    expected = [pyarabic_reference(t, options) for t in texts]
    assert got == expected
    # The random texts really exercised the rules.
    assert sum(g != t for g, t in zip(got, texts)) > 300


def test_clean_arabic_text_is_pyarabic_normalisation():
    """On text with no web noise, the full cleaner changes exactly what PyArabic changes."""
    text = "قَالَتْ لِيهْ: «أنا مـــاشي مسؤول، سير فحالك!» ﻻ ﻷ إيه آش بغيتي؟"
    cleaned = clean_series(pl.Series([text]))
    assert cleaned.to_list() == [pyarabic_reference(text, CleanOptions())]
    assert cleaned.to_list() == ["قالت ليه: «انا ماشي مسوول، سير فحالك!» لا لا ايه اش بغيتي؟"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("كَيْفَ دَايْرَة؟", "كيف دايرة؟"),
        ("بـــزاف ديال الـفـرحـة", "بزاف ديال الفرحة"),
        ("أنا إلى آش سؤال رئيس", "انا الى اش سوال رييس"),
        ("\ufefb بأس \ufef7", "لا باس لا"),
        ("شوف هاد الفيديو https://youtu.be/abc?x=1 😂😂 واو www.9esa.com/x", "شوف هاد الفيديو واو"),
        ("راسلني على ali.b@gmail.com دابا", "راسلني على دابا"),
        (
            "<p class='x'>مرحبا&nbsp;بيك</p><script>var x = 'كود';</script><!-- تعليق -->",
            "مرحبا بيك",
        ),
        ("&#1605;&#1585;&#1581;&#1576;&#1575; &lt;br&gt; صاحبي", "مرحبا صاحبي"),
        ("مر\u200cحبا ❤️ بيك \ufeffخويا", "مرحبا بيك خويا"),
        ("wach nta mzyan 3lach? واش", "? واش"),
        ("c'est très bien مزيان", "مزيان"),
        ("Привет 你好 السلام ★ ☆", "السلام"),
        ("سطر لول  \n\n  سطر تاني\t\tوصافي ", "سطر لول\nسطر تاني وصافي"),
        ("عندي 25 عام و ٣ ولاد", "عندي 25 عام و 3 ولاد"),
        ("ڭالت ليا: گاع ماشي ڤيديو", "ڭالت ليا: گاع ماشي ڤيديو"),
    ],
)
def test_default_cleaning_exact(raw, expected):
    cleaned = clean_series(pl.Series([raw]))
    assert cleaned.to_list() == [expected]


@pytest.mark.parametrize(
    ("options", "raw", "expected"),
    [
        (CleanOptions(keep_latin=True), "wach nta mzyan 3lach? واش", "wach nta mzyan 3lach? واش"),
        (CleanOptions(keep_latin=True), "c'est très bien مزيان", "c est très bien مزيان"),
        (CleanOptions(keep_digits=False), "عندي 25 عام و ٣ ولاد ۴", "عندي عام و ولاد"),
        (CleanOptions(keep_punctuation=False), "واش؟ لا! «صافي»، يالله.", "واش لا صافي يالله"),
        (CleanOptions(strip_tashkeel=False), "كَيْفَ 😀", "كَيْفَ"),
        (CleanOptions(normalize_hamza=False), "أنا سؤال", "أنا سؤال"),
    ],
)
def test_options_change_what_is_kept(options, raw, expected):
    cleaned = clean_series(pl.Series([raw]), options)
    assert cleaned.to_list() == [expected]


def test_clean_frame_quarantines_empty_rows_with_reasons_and_counts():
    raw = pl.DataFrame(
        {
            "url": ["u1", "u2", "u3", "u4", "u5"],
            "source": ["s"] * 5,
            "content_hash": ["h1", "h2", "h3", "h4", "h5"],
            "raw_text": ["سَلاَم عـليكم", None, "😀 http://x.ma", "   ", "hello مرحبا"],
        }
    )
    frame, quarantine, stats = clean_frame(raw)

    assert frame["url"].to_list() == ["u1", "u5"]
    assert frame["clean_text"].to_list() == ["سلام عليكم", "مرحبا"]
    assert frame.columns == ["url", "source", "content_hash", "raw_text", "clean_text"]
    assert quarantine.to_dicts() == [
        {
            "url": "u2",
            "source": "s",
            "content_hash": "h2",
            "reason": "raw_text is null",
            "stage": "clean_text",
        },
        {
            "url": "u3",
            "source": "s",
            "content_hash": "h3",
            "reason": "empty after cleaning: all 13 characters were links, markup, emojis or "
            "non-Arabic noise",
            "stage": "clean_text",
        },
        {
            "url": "u4",
            "source": "s",
            "content_hash": "h4",
            "reason": "raw_text is empty",
            "stage": "clean_text",
        },
    ]
    chars_in = len("سَلاَم عـليكم") + len("😀 http://x.ma") + 3 + len("hello مرحبا")
    assert stats == {
        "rows_in": 5,
        "rows_out": 2,
        "rows_quarantined": 3,
        "rows_without_letters": 0,
        "chars_in": chars_in,
        "chars_out": len("سلام عليكم") + len("مرحبا"),
        "chars_removed": chars_in - len("سلام عليكم") - len("مرحبا"),
        "arabic_script_ratio": 1.0,
    }


def test_arabic_script_ratio_counts_kept_latin():
    raw = pl.DataFrame({"url": ["u"], "raw_text": ["abcd ابتث"]})
    _, _, stats = clean_frame(raw, CleanOptions(keep_latin=True))
    assert stats["arabic_script_ratio"] == 0.5


def test_missing_text_column_is_a_clear_error():
    with pytest.raises(KeyError, match="'raw_text'"):
        clean_frame(pl.DataFrame({"url": ["u"], "text": ["x"]}))


def test_all_null_text_column_is_quarantined_not_a_crash():
    raw = pl.DataFrame({"url": ["u1", "u2"], "raw_text": [None, None]})
    frame, quarantine, stats = clean_frame(raw)
    assert frame.height == 0
    assert quarantine["reason"].to_list() == ["raw_text is null", "raw_text is null"]
    assert stats["arabic_script_ratio"] == 0.0


def test_rows_left_with_only_digits_or_punctuation_are_quarantined_with_what_was_left():
    """Never kept as "." for segmentation to drop without a trace (case 10 before NFKC)."""
    digits_only = "😀 2026 ٣٤ 📅"
    raw = pl.DataFrame(
        {
            "url": ["u1", "u2", "u3", "u4"],
            "raw_text": ["ﻣﻨﺼﺔ. ", "... !! ؟", digits_only, "Hi. مرحبا."],
        }
    )
    frame, quarantine, stats = clean_frame(raw)
    assert frame.select("url", "clean_text").rows() == [("u1", "منصة."), ("u4", ". مرحبا.")]
    assert quarantine.select("url", "reason").rows() == [
        (
            "u2",
            "no letters after cleaning: only digits or punctuation left ('... !! ؟' of 8 characters)",
        ),
        (
            "u3",
            (
                "no letters after cleaning: only digits or punctuation left "
                f"('2026 34' of {len(digits_only)} characters)"
            ),
        ),
    ]
    assert stats["rows_quarantined"] == stats["rows_without_letters"] == 2
    assert stats["rows_out"] == 2


def test_speaker_column_is_carried_through():
    raw = pl.DataFrame(
        {"url": ["u1", "u2"], "raw_text": ["واش نتي لاباس؟", "😀"], "speaker": ["speaker_1", None]}
    )
    frame, quarantine, _ = clean_frame(raw)
    assert frame.select("speaker", "clean_text").rows() == [("speaker_1", "واش نتي لاباس؟")]
    assert quarantine["url"].to_list() == ["u2"]
