"""split_sentences: exact boundaries, stable ids, and every dropped fragment accounted for."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

from darija_assets.text.segment import SegmentOptions, sentence_id, split_sentences


def frame(*texts: str | None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "url": [f"u{i}" for i in range(len(texts))],
            "source": ["sample"] * len(texts),
            "clean_text": list(texts),
        },
        schema={"url": pl.String, "source": pl.String, "clean_text": pl.String},
    )


def test_boundaries_and_dialogue_markers_exact():
    text = (
        "قالت ليه: «فين كنتي؟» وهو ساكت...\n"
        "- ما عرفتش!! مول-الحانوت، جا؛ مشا. واش؟ !!\n"
        "— صافي “سير” بلاتي, نشوف; غدا - إن شاء الله"
    )
    sentences, quarantine, stats = split_sentences(frame(text))
    assert sentences["sentence"].to_list() == [
        "قالت ليه",
        "فين كنتي؟",
        "وهو ساكت...",
        "ما عرفتش!!",
        "مول-الحانوت",
        "مشا.",
        "واش؟",
        "صافي",
        "سير",
        "بلاتي",
        "نشوف",
        "غدا",
        "إن شاء الله",
    ]
    assert sentences["position"].to_list() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13]
    assert sentences["url"].unique().to_list() == ["u0"]
    assert quarantine.height == 0
    # "!!" after "واش؟ " is the one fragment without a letter; "جا" (2 chars) is too short.
    assert stats["empty_segments"] == 1
    assert stats["segments"] == 14
    assert stats["too_short"] == 1


def test_sentence_ids_are_sha256_prefixes_and_stable_across_runs():
    data = frame("واش نتا مزيان؟ الحمد لله.", "كلشي بخير.")
    first, _, _ = split_sentences(data)
    second, _, _ = split_sentences(data.clone())
    assert first.equals(second)
    assert first["sentence_id"].to_list() == [
        hashlib.sha256(s.encode("utf-8")).hexdigest()[:16] for s in first["sentence"]
    ]
    assert first.columns == ["sentence_id", "sentence", "url", "source", "position"]
    assert first["position"].to_list() == [0, 1, 0]
    assert sentence_id("كلشي بخير.") == first["sentence_id"][2]


def test_duplicates_dropped_and_counted_keeping_first_occurrence():
    data = frame("سلام عليكم. كيداير؟ سلام عليكم.", "كيداير؟ لاباس.")
    sentences, _, stats = split_sentences(data)
    assert sentences.select("sentence", "url", "position").rows() == [
        ("سلام عليكم.", "u0", 0),
        ("كيداير؟", "u0", 1),
        ("لاباس.", "u1", 1),
    ]
    assert stats["duplicates"] == 2
    assert stats["sentences_out"] == 3

    kept_all, _, stats_all = split_sentences(data, SegmentOptions(drop_duplicates=False))
    assert kept_all.height == 5
    assert stats_all["duplicates"] == 0


def test_length_bounds_drop_short_and_quarantine_long():
    long_sentence = "هادي جملة طويلة بزاف بلا نقطة"  # 29 chars
    data = frame(f"لا. واخا. {long_sentence}؟ مزيان")
    sentences, quarantine, stats = split_sentences(data, SegmentOptions(min_chars=4, max_chars=20))
    assert sentences["sentence"].to_list() == ["واخا.", "مزيان"]
    assert sentences["position"].to_list() == [1, 3]
    assert quarantine.to_dicts() == [
        {
            "url": "u0",
            "source": "sample",
            "position": 2,
            "sentence": f"{long_sentence}؟",
            "reason": "longer than 20 chars (30)",
            "stage": "sentences",
        }
    ]
    assert stats == {
        "rows_in": 1,
        "rows_without_text": 0,
        "segments": 4,
        "empty_segments": 0,
        "too_short": 1,
        "too_long": 1,
        "duplicates": 0,
        "sentences_out": 2,
    }


def test_rows_without_text_counted_not_failing():
    sentences, _, stats = split_sentences(frame(None, "", "صافي."))
    assert sentences["sentence"].to_list() == ["صافي."]
    assert sentences["url"].to_list() == ["u2"]
    assert stats["rows_without_text"] == 2
    assert stats["empty_segments"] == 0


def test_bad_input_is_a_clear_error():
    with pytest.raises(KeyError, match="source"):
        split_sentences(pl.DataFrame({"url": ["u"], "clean_text": ["x"]}))
    with pytest.raises(ValueError, match="length bounds"):
        split_sentences(frame("x"), SegmentOptions(min_chars=10, max_chars=5))
