"""Which rows a student may learn from, the held-out split, and the metrics, checked
on small tables whose right answers can be worked out by hand."""

from __future__ import annotations

import polars as pl
import pytest

from darija_assets.classifier.data import (
    InsufficientData,
    select_training_rows,
    stratified_split,
    teachers,
)
from darija_assets.classifier.metrics import evaluate, majority_label


def _labels(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sentence": [r[0] for r in rows],
            "label": [r[1] for r in rows],
            "backend": [r[2] for r in rows],
            "model": [f"{r[2]}-model" for r in rows],
            "source": ["s"] * len(rows),
        }
    )


def test_lexicon_and_student_rows_are_left_out_and_counted():
    frame = _labels(
        [
            ("فرحان بزاف", "Joy", "gemini"),
            ("حزين", "Sadness", "imported"),
            ("عادي", "Neutral", "offline"),
            ("عادي بزاف", "Neutral", "offline"),
            ("خايف", "Fear", "student"),
        ]
    )
    data = select_training_rows(frame)
    assert sorted(data.rows["backend"].to_list()) == ["gemini", "imported"]
    assert data.counts["excluded_offline"] == 2
    assert data.counts["excluded_student"] == 1
    assert data.counts["kept"] == 2

    # the lexicon only when asked; the student's own labels never
    asked = select_training_rows(frame, include_offline=True)
    assert sorted(asked.rows["backend"].to_list()) == ["gemini", "imported", "offline", "offline"]
    assert "excluded_offline" not in asked.counts and asked.counts["excluded_student"] == 1


def test_repeated_sentences_keep_their_first_label_and_are_counted():
    frame = _labels(
        [
            ("واش بصح", "Surprise", "gemini"),
            (" واش بصح ", "Neutral", "groq"),  # the same sentence, another label
            ("واش بصح", "Surprise", "groq"),
            ("", "Joy", "gemini"),
            ("بلا تصنيف", None, "gemini"),
        ]
    )
    data = select_training_rows(frame)
    assert data.rows.to_dicts() == [
        {
            "text": "واش بصح",
            "label": "Surprise",
            "backend": "gemini",
            "model": "gemini-model",
            "source": "s",
        }
    ]
    assert data.counts["unusable_empty"] == 2
    assert data.counts["repeats"] == 2
    assert data.counts["conflicting_repeats"] == 2
    assert teachers(data.rows) == [{"backend": "gemini", "model": "gemini-model", "rows": 1}]


def test_missing_columns_are_a_clear_error():
    with pytest.raises(ValueError, match="backend"):
        select_training_rows(pl.DataFrame({"sentence": ["x"], "label": ["Joy"], "model": ["m"]}))


def test_split_is_stratified_seeded_and_keeps_single_rows_in_training():
    rows = pl.DataFrame(
        {
            "text": [f"t{i}" for i in range(51)],
            "label": ["A"] * 30 + ["B"] * 20 + ["C"],
        }
    )
    split = stratified_split(rows, test_share=0.2, seed=3)
    assert split.test.height == 10
    assert dict(split.test["label"].value_counts().iter_rows()) == {"A": 6, "B": 4}
    assert "C" in split.train["label"].to_list() and split.train_only == 1
    assert set(split.train["text"]).isdisjoint(split.test["text"])
    assert split.train.height + split.test.height == rows.height
    again = stratified_split(rows, test_share=0.2, seed=3)
    assert again.test["text"].to_list() == split.test["text"].to_list()
    assert (
        stratified_split(rows, test_share=0.2, seed=4).test["text"].to_list()
        != split.test["text"].to_list()
    )


@pytest.mark.parametrize(
    "labels, message",
    [(["A"] * 20, "two labels"), (["A", "A", "B", "B", "C", "C"], "cannot hold out")],
)
def test_too_little_data_says_why(labels, message):
    rows = pl.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "label": labels})
    with pytest.raises(InsufficientData, match=message):
        stratified_split(rows, test_share=0.2)


def test_metrics_match_a_hand_worked_example():
    # true A A B B, predicted A B B B; training mostly A, so the baseline always says A
    ev = evaluate(["A", "A", "B", "B"], ["A", "B", "B", "B"], ["A", "B"], ["A", "A", "A", "B"])
    assert ev.accuracy == pytest.approx(0.75)
    # A: precision 1, recall 1/2, F1 2/3; B: precision 2/3, recall 1, F1 4/5
    assert ev.macro_f1 == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert ev.per_class[0] == pytest.approx(
        {"label": "A", "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    )
    assert ev.confusion == [[1, 1], [0, 2]]
    assert ev.majority_label == "A"
    assert ev.baseline_accuracy == pytest.approx(0.5)
    # always A: F1(A) = 2/3, F1(B) = 0
    assert ev.baseline_macro_f1 == pytest.approx(1 / 3)


def test_macro_average_skips_labels_with_no_held_out_row():
    ev = evaluate(["A", "B"], ["A", "B"], ["A", "B", "C"], ["A", "B", "C"])
    assert ev.macro_f1 == pytest.approx(1.0)
    assert ev.per_class[2]["support"] == 0


def test_majority_ties_are_deterministic():
    assert majority_label(["B", "A", "B", "A"]) == "A"
