"""split_sentences: exact boundaries, stable ids, and every dropped fragment accounted for;
the too-long quarantine on multi-chunk frames (case 21, a polars panic). Dialogue has its
own module, test_dialogue.py."""

from __future__ import annotations

import hashlib
import random

import polars as pl
import pytest

from darija_assets.text.segment import (
    SegmentOptions,
    sentence_id,
    split_sentences,
    too_long_quarantine,
)


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
    assert first.columns == ["sentence_id", "sentence", "url", "source", "position", "speaker"]
    assert first["speaker"].null_count() == first.height  # narration, no speaker column
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
        "dialogue_rows": 0,
        "turn_segments": 0,
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


def _chunked(*chunks: list[int]) -> pl.DataFrame:
    """A segmented-sentences frame stored in the given chunks of lengths (rechunk=False)."""
    frames, n = [], 0
    for lengths in chunks:
        frames.append(
            pl.DataFrame(
                {
                    "url": [f"u{n + i}" for i in range(len(lengths))],
                    "source": ["s"] * len(lengths),
                    "position": list(range(len(lengths))),
                    "sentence": ["ب" * length for length in lengths],
                    "length": lengths,
                },
                schema_overrides={"length": pl.UInt32, "position": pl.Int64},
            )
        )
        n += len(lengths)
    return pl.concat(frames, rechunk=False)


#: chunk layouts: the case 21 one ([6, 4], hits at 1 and 3 of the second) and random ones
LAYOUTS = [[[1] * 6, [1, 2000, 1, 3000]], [[1] * 7, [2000, 1, 3000]]]
_rng = random.Random(21)
LAYOUTS += [
    [
        [_rng.choice([1, 1, 1, 2000]) for _ in range(_rng.randint(1, 12))]
        for _ in range(_rng.randint(2, 5))
    ]
    for _ in range(60)
]


def test_too_long_quarantine_on_multi_chunk_frames():
    """Case 21: the quarantine of sentences over max_chars never panics, whatever the chunks."""
    for layout in LAYOUTS:
        sentences = _chunked(*layout)
        assert sentences.n_chunks() == len(layout)
        quarantine = too_long_quarantine(sentences, 1000)
        expected = [n for lengths in layout for n in lengths if n > 1000]
        assert quarantine["reason"].to_list() == [f"longer than 1000 chars ({n})" for n in expected]
        assert (
            quarantine["sentence"].str.len_chars()
            == quarantine["reason"].str.extract(r"\((\d+)\)").cast(pl.UInt32)
        ).all()
        assert set(quarantine["stage"]) <= {"sentences"}


@pytest.mark.skipif(pl.__version__ != "2.1.0", reason="the panic is polars 2.1.0's")
def test_the_layouts_do_hit_the_polars_format_panic():
    """The layouts above are the ones that break ``pl.format`` (so the test above would catch
    a return to it): upstream-style repro, polars 2.1.0."""
    panics = 0
    for layout in LAYOUTS:
        query = (
            _chunked(*layout)
            .lazy()
            .filter(pl.col("length") > 1000)
            .select(pl.format("longer than {} chars ({})", pl.lit(1000), pl.col("length")))
        )
        try:
            query.collect()
        except pl.exceptions.PanicException:
            panics += 1
    assert panics > 0


def test_split_sentences_on_a_multi_chunk_corpus_quarantines_every_long_sentence():
    long_sentence = "هادي جملة طويلة بزاف بلا نقطة"
    texts = ["جملة قصيرة."] * 6 + [
        "واخا.",
        f"{long_sentence} واحد.",
        "مزيان.",
        f"{long_sentence} جوج.",
    ]
    whole = frame(*texts)
    corpus = pl.concat([whole.head(6), whole.tail(4)], rechunk=False)
    assert corpus.n_chunks() == 2
    sentences, quarantine, stats = split_sentences(corpus, SegmentOptions(max_chars=20))
    assert quarantine.select("url", "reason").rows() == [
        ("u7", "longer than 20 chars (35)"),
        ("u9", "longer than 20 chars (34)"),
    ]
    assert sentences["sentence"].to_list() == ["جملة قصيرة.", "واخا.", "مزيان."]
    assert stats["too_long"] == 2 and stats["duplicates"] == 5
