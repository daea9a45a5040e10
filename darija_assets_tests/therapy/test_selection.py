"""Which sentences become therapy pairs: quotas, shortfalls, determinism, extension.

The original notebook filled TARGET_LIMITS from one shuffle; these tests pin what a
rerun must keep: the same seed gives the same pairs and styles whatever the row
order, and a bigger quota only appends to the previous selection.
"""

from __future__ import annotations

import polars as pl
import pytest

from darija_assets.therapy.selection import (
    STYLES,
    TARGET_LIMITS,
    pair_id_for,
    resolve_quota,
    select_for_emotion,
    style_for,
)
from darija_assets_tests.therapy.teachers import labelled_sentences


def test_quota_smaller_than_available_takes_exactly_the_quota():
    labels = labelled_sentences({"Sadness": 10, "Joy": 7})
    selected, stats = select_for_emotion(labels, "Sadness", quota=3, seed=1)
    assert selected.height == 3
    assert set(selected["emotion"]) == {"Sadness"}
    assert set(selected["sentence_id"]) <= set(
        labels.filter(pl.col("label") == "Sadness")["sentence_id"]
    )
    assert {k: stats[k] for k in ("available", "quota", "selected", "shortfall")} == {
        "available": 10,
        "quota": 3,
        "selected": 3,
        "shortfall": 0,
    }


def test_quota_larger_than_available_takes_all_and_reports_the_shortfall():
    labels = labelled_sentences({"Fear": 4, "Anger": 9})
    selected, stats = select_for_emotion(labels, "Fear", quota=10, seed=1)
    assert sorted(selected["sentence_id"]) == [f"fea{i:05d}" for i in range(4)]
    assert {k: stats[k] for k in ("available", "quota", "selected", "shortfall")} == {
        "available": 4,
        "quota": 10,
        "selected": 4,
        "shortfall": 6,
    }


def test_same_seed_same_pairs_and_styles_whatever_the_row_order():
    labels = labelled_sentences({"Sadness": 40})
    first, _ = select_for_emotion(labels, "Sadness", quota=15, seed=7)
    shuffled = labels.sample(fraction=1.0, shuffle=True, seed=123)
    assert shuffled["sentence_id"].to_list() != labels["sentence_id"].to_list()
    second, _ = select_for_emotion(shuffled, "Sadness", quota=15, seed=7)
    assert first.equals(second)
    other_seed, _ = select_for_emotion(labels, "Sadness", quota=15, seed=8)
    assert other_seed["sentence_id"].to_list() != first["sentence_id"].to_list()


def test_raising_the_quota_extends_the_previous_selection():
    labels = labelled_sentences({"Anger": 30})
    small, _ = select_for_emotion(labels, "Anger", quota=5, seed=3)
    large, _ = select_for_emotion(labels, "Anger", quota=12, seed=3)
    assert large.head(5).equals(small)
    assert large.height == 12


def test_styles_and_pair_ids_are_functions_of_the_sentence():
    labels = labelled_sentences({"Sadness": 300})
    selected, stats = select_for_emotion(labels, "Sadness", quota=300, seed=5)
    for row in selected.iter_rows(named=True):
        assert row["style"] == style_for(row["sentence_id"], 5)
        assert row["pair_id"] == pair_id_for(row["sentence_id"], "Sadness", row["style"])
    counts = {s: stats[f"style_{s}"] for s in STYLES}
    assert sum(counts.values()) == 300
    # a hash spreads styles evenly: each near 100 of 300
    assert all(70 <= n <= 130 for n in counts.values()), counts
    assert selected["pair_id"].n_unique() == 300


def test_a_sentence_in_two_sources_counts_once_and_empty_ones_are_counted():
    labels = pl.DataFrame(
        {
            "sentence_id": ["a", "a", "b", "c", "d"],
            "sentence": ["جملة", "جملة", "  ", "جملة أخرى", "جملة ثالثة"],
            "url": ["http://s/2", "http://s/1", "http://s/3", "http://s/4", "http://s/5"],
            "source": ["sample", "9esa", "sample", "sample", "sample"],
            # the Gemini pass of the original project wrote labels in capitals
            "label": ["SADNESS", "Sadness", "Sadness", "sadness", "Joy"],
        }
    )
    selected, stats = select_for_emotion(labels, "Sadness", quota=10, seed=1)
    assert sorted(selected["sentence_id"]) == ["a", "c"]
    kept = selected.filter(pl.col("sentence_id") == "a").row(0, named=True)
    assert (kept["source"], kept["url"]) == ("9esa", "http://s/1")
    assert (stats["available"], stats["duplicate_sentences"], stats["empty_sentences"]) == (2, 1, 1)


def test_quotas_default_to_the_original_target_limits_and_are_configurable():
    assert TARGET_LIMITS == {
        "Sadness": 5000,
        "Fear": 5000,
        "Anger": 5000,
        "Love": 500,
        "Surprise": 500,
        "Joy": 500,
        "Neutral": 0,
    }
    assert resolve_quota("Fear") == 5000
    assert resolve_quota("Neutral", {"Neutral": 50}) == 50
    assert resolve_quota("Disgust", {"Disgust": 7}) == 7
    with pytest.raises(ValueError, match="no quota for emotion 'Disgust'"):
        resolve_quota("Disgust")
    with pytest.raises(ValueError, match="non-negative"):
        resolve_quota("Joy", {"Joy": -1})


def test_neutral_default_quota_selects_nothing():
    labels = labelled_sentences({"Neutral": 5})
    selected, stats = select_for_emotion(labels, "Neutral", seed=1)
    assert selected.height == 0
    assert (stats["available"], stats["quota"], stats["selected"]) == (5, 0, 0)


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match="lack columns: label"):
        select_for_emotion(
            pl.DataFrame({"sentence_id": ["a"], "sentence": ["x"], "url": ["u"], "source": ["s"]}),
            "Joy",
            quota=1,
        )
