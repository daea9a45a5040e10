"""File sources: each format read into raw_corpus rows, each malformed record quarantined
with its line number and reason, and a windows-1256 file decoded as such."""

from __future__ import annotations

import hashlib

import pytest

from darija_assets.sources import Source
from darija_assets.text.importers import (
    RAW_CORPUS_SCHEMA,
    ImportOptions,
    import_file,
    import_source,
)

FIXED_TIME = "2026-11-21T22:00:00+00:00"
OPTIONS = ImportOptions(crawled_at=FIXED_TIME)


def reasons(result) -> list[tuple[int, str]]:
    return list(zip(result.quarantine["line"], result.quarantine["reason"]))


def test_jsonl_rows_and_every_malformed_line_quarantined(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                '{"text": "سلام عليكم", "title": "t1", "category": "حب"}'.encode(),
                b"{bad json",
                b"[1, 2]",
                b'{"body": "x"}',
                b"",
                b'{"text": "   "}',
                b'{"text": "\xff\xfe"}',
                '{"text": "واش", "url": "https://x.ma/1", "chapter_index": "2"}'.encode(),
                b'{"text": "x", "chapter_index": "two"}',
            ]
        )
    )
    result = import_file(path, "mine", OPTIONS)
    uri = path.resolve().as_uri()

    assert result.frame.schema == RAW_CORPUS_SCHEMA
    assert result.frame.to_dicts() == [
        {
            "url": f"{uri}#L1",
            "title": "t1",
            "raw_text": "سلام عليكم",
            "publish_date": None,
            "category": "حب",
            "story": "",
            "chapter_index": None,
            "content_hash": hashlib.sha256("سلام عليكم".encode()).hexdigest(),
            "crawled_at": FIXED_TIME,
            "source": "mine",
            "speaker": None,
        },
        {
            "url": "https://x.ma/1",
            "title": "",
            "raw_text": "واش",
            "publish_date": None,
            "category": "",
            "story": "",
            "chapter_index": 2,
            "content_hash": hashlib.sha256("واش".encode()).hexdigest(),
            "crawled_at": FIXED_TIME,
            "source": "mine",
            "speaker": None,
        },
    ]
    assert reasons(result) == [
        (2, "line 2: invalid JSON (Expecting property name enclosed in double quotes at column 2)"),
        (3, "line 3: a JSON list, not an object"),
        (4, "line 4: no string field 'text'"),
        (6, "line 6: empty text"),
        (7, "line 7: not valid UTF-8 (the rest of the file is UTF-8)"),
        (9, "line 9: chapter_index 'two' is not an integer"),
    ]
    assert result.quarantine["url"][0] == f"{uri}#L2"
    assert set(result.quarantine["stage"]) == {"raw_corpus"}
    assert result.stats == {
        "path": str(path.resolve()),
        "format": "jsonl",
        "encoding": "utf-8",
        "lines": 9,
        "rows_out": 2,
        "rows_quarantined": 6,
    }


def test_windows_1256_file_is_retried_and_says_so(tmp_path, caplog):
    path = tmp_path / "old.txt"
    path.write_bytes("قصة قديمة\nسطر تاني\n\nبلوك تاني".encode("windows-1256"))
    with caplog.at_level("WARNING"):
        result = import_file(path, "old", OPTIONS)
    assert result.stats["encoding"] == "windows-1256"
    assert f"{path.resolve()} is not UTF-8; reading it as windows-1256" in caplog.text
    assert result.frame["raw_text"].to_list() == ["قصة قديمة\nسطر تاني", "بلوك تاني"]
    assert result.quarantine.height == 0


def test_plain_text_blocks_separated_by_blank_lines(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text("سطر 1\nسطر 2\n\n\n   \nبلوك تاني\n", encoding="utf-8")
    result = import_file(path, "txt", OPTIONS)
    assert result.stats["format"] == "txt"
    assert result.frame.select("url", "raw_text", "story", "chapter_index").rows() == [
        (f"{path.resolve().as_uri()}#L1", "سطر 1\nسطر 2", "stories", 1),
        (f"{path.resolve().as_uri()}#L6", "بلوك تاني", "stories", 2),
    ]


def test_csv_rows_multiline_cells_and_ragged_rows(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        'text,title,chapter_index\n"سطر لول\nسطر تاني",عنوان,1\nزايد,x,2,extra\nناقص\nواخا,t,3\n',
        encoding="utf-8",
    )
    result = import_file(path, "csv", OPTIONS)
    assert result.frame.select("url", "raw_text", "title", "chapter_index").rows() == [
        (f"{path.resolve().as_uri()}#L2", "سطر لول\nسطر تاني", "عنوان", 1),
        (f"{path.resolve().as_uri()}#L6", "واخا", "t", 3),
    ]
    assert reasons(result) == [
        (4, "line 4: 4 cells where the header has 3"),
        (5, "line 5: 1 cells where the header has 3"),
    ]


def test_csv_without_the_text_column_is_a_clear_error(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("body,title\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no column 'text'"):
        import_file(path, "csv", OPTIONS)


ANDROID_CHAT = """\
21/11/2026, 22:10 - Messages and calls are end-to-end encrypted. No one outside of this chat can read them.
21/11/2026, 22:10 - Ahmed: سلام، كيداير؟
21/11/2026, 22:11 - Sara: لاباس الحمد لله
وانت؟ شنو الجديد
21/11/2026, 22:12 - Ahmed: <Media omitted>
21/11/2026, 22:13 - Sara: This message was deleted
22/11/2026, 9:05\u202fam - Ahmed: صباح الخير: نوضو
"""


def test_whatsapp_android_export(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(ANDROID_CHAT, encoding="utf-8")
    result = import_file(path, "chat", OPTIONS)
    uri = path.resolve().as_uri()
    assert result.stats["format"] == "whatsapp"
    assert result.frame.select("url", "raw_text", "publish_date", "category").rows() == [
        (f"{uri}#L2", "سلام، كيداير؟", "2026-11-21T22:10:00", "whatsapp"),
        (f"{uri}#L3", "لاباس الحمد لله\nوانت؟ شنو الجديد", "2026-11-21T22:11:00", "whatsapp"),
        (f"{uri}#L7", "صباح الخير: نوضو", "2026-11-22T09:05:00", "whatsapp"),
    ]
    assert reasons(result) == [
        (1, "line 1: system message (the end-to-end encryption notice) [en]"),
        (5, "line 5: media placeholder, no text [en]"),
        (6, "line 6: deleted message, no text [en]"),
    ]
    assert result.frame["speaker"].to_list() == ["speaker_1", "speaker_2", "speaker_1"]
    # Sender names are personal data: nowhere in the corpus rows.
    assert not any(
        "Ahmed" in str(v) or "Sara" in str(v) for row in result.frame.rows() for v in row
    )


def test_whatsapp_ios_export_month_first_and_stray_text(tmp_path):
    path = tmp_path / "ios.txt"
    path.write_text(
        "[11/21/26, 10:10:05 PM] Ahmed: واش كاين شي جديد؟\n"
        "[11/21/26, 10:11:00 PM] Sara: \u200e<attached: 00000012-PHOTO.jpg>\n",
        encoding="utf-8",
    )
    result = import_file(path, "ios", ImportOptions(crawled_at=FIXED_TIME, date_order="MDY"))
    assert result.frame.select("raw_text", "publish_date").rows() == [
        ("واش كاين شي جديد؟", "2026-11-21T22:10:05")
    ]
    assert reasons(result) == [(2, "line 2: media placeholder, no text [en]")]

    stray = tmp_path / "stray.txt"
    stray.write_text("شي حاجة\n" + ANDROID_CHAT, encoding="utf-8")
    forced = import_file(stray, "chat", ImportOptions(fmt="whatsapp", crawled_at=FIXED_TIME))
    assert reasons(forced)[0] == (1, "line 1: text before the first message header")
    assert forced.frame.height == 3


def test_import_source_uses_registry_options(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text('{"body": "مرحبا"}\n', encoding="utf-8")
    source = Source(name="posts", kind="file", path=str(path), extra={"text_field": "body"})
    result = import_source(source, crawled_at=FIXED_TIME)
    assert result.frame["raw_text"].to_list() == ["مرحبا"]
    assert result.frame["source"].to_list() == ["posts"]
    with pytest.raises(ValueError, match="not a file source"):
        import_source(Source(name="sample", kind="sample"))


def test_unknown_extension_and_missing_file_are_clear_errors(tmp_path):
    path = tmp_path / "data.xml"
    path.write_text("<x/>", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot tell the format"):
        import_file(path, "x", OPTIONS)
    with pytest.raises(FileNotFoundError, match="no file at"):
        import_file(tmp_path / "absent.jsonl", "x", OPTIONS)
