"""The linear student trained on labels imported from a made-up file: it beats the
majority baseline by far, says who taught it, writes a readable picture and card,
and predicts the same after a save and load, whatever the batch size."""

from __future__ import annotations

import json

import polars as pl
import pytest
from PIL import Image

from darija_assets.classifier.data import InsufficientData
from darija_assets.classifier.linear import LinearParams
from darija_assets.classifier.student import load_student
from darija_assets.classifier.train import (
    CARD_FILE,
    CONFUSION_PNG,
    METRICS_FILE,
    ClassifierSettings,
    train_classifier,
)
from darija_assets.partitions import EMOTIONS
from darija_assets_tests.classifier.conftest import COUNTS, FRESH_SENTENCES, lexicon_labels


def test_student_beats_the_majority_baseline_by_far(linear_report):
    ev = linear_report.evaluation
    print(
        f"linear on made-up labels: accuracy {ev.accuracy:.3f} macro-F1 {ev.macro_f1:.3f}; "
        f"always-{ev.majority_label} {ev.baseline_accuracy:.3f} / {ev.baseline_macro_f1:.3f}"
    )
    assert ev.majority_label == "Neutral"
    assert ev.macro_f1 >= 0.8
    assert ev.macro_f1 >= ev.baseline_macro_f1 + 0.5
    assert ev.accuracy > ev.baseline_accuracy + 0.3
    assert {row["label"] for row in ev.per_class} == set(EMOTIONS)
    assert sum(row["support"] for row in ev.per_class) == ev.held_out
    assert sum(map(sum, ev.confusion)) == ev.held_out


def test_only_the_imported_rows_taught_it(linear_report, labelled_file):
    counts = linear_report.counts
    assert counts["excluded_offline"] == 40
    assert counts["kept"] == sum(COUNTS.values())
    assert counts["train"] + counts["held_out"] == counts["kept"]
    assert linear_report.teachers == [
        {"backend": "imported", "model": labelled_file.name, "rows": sum(COUNTS.values())}
    ]
    distribution = linear_report.label_distribution
    assert sum(c["train"] + c["held_out"] for c in distribution.values()) == counts["kept"]


def test_picture_metrics_and_card_are_saved_beside_the_model(linear_report):
    directory = linear_report.directory
    with Image.open(directory / CONFUSION_PNG) as picture:
        picture.verify()
        assert picture.format == "PNG" and min(picture.size) > 200
    saved = json.loads((directory / METRICS_FILE).read_text(encoding="utf-8"))
    assert saved["evaluation"]["macro_f1"] == linear_report.evaluation.macro_f1
    card = (directory / CARD_FILE).read_text(encoding="utf-8")
    assert f"{linear_report.evaluation.macro_f1:.3f}" in card
    assert "imported" in card and CONFUSION_PNG in card
    assert "not a" in card and "clinical" in card


def test_saved_student_predicts_the_same_in_any_batch_size(linear_report):
    student = load_student(linear_report.directory)
    texts = list(FRESH_SENTENCES.values())
    one_by_one = student.predict(texts, batch_size=1)
    together = student.predict(texts, batch_size=256)
    assert [p.label for p in one_by_one] == [p.label for p in together]
    assert [p.confidence for p in one_by_one] == pytest.approx([p.confidence for p in together])
    assert all(0 < p.confidence <= 1 for p in together)


def test_new_sentences_get_their_emotion(linear_report):
    student = load_student(linear_report.directory)
    predicted = student.predict(list(FRESH_SENTENCES.values()))
    assert [p.label for p in predicted] == list(FRESH_SENTENCES)


def test_class_weights_are_configurable(labels_frame, tmp_path):
    report = train_classifier(
        labels_frame,
        tmp_path / "unweighted",
        ClassifierSettings(linear=LinearParams(class_weight=None)),
    )
    student = load_student(report.directory)
    assert student.params.class_weight is None
    assert student.pipeline.named_steps["model"].class_weight is None
    with pytest.raises(ValueError, match="class_weight"):
        LinearParams(class_weight="heavy")


def test_lexicon_labels_alone_train_nothing_and_say_why(tmp_path):
    lexicon = lexicon_labels([f"جملة {i}" for i in range(30)], "sample")
    with pytest.raises(InsufficientData, match="offline lexicon"):
        train_classifier(lexicon, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_lexicon_labels_when_asked(tmp_path):
    lexicon = pl.concat(
        [
            lexicon_labels([f"جملة عادية {i}" for i in range(30)], "sample"),
            lexicon_labels([f"فرحان بزاف {i}" for i in range(30)], "sample").with_columns(
                label=pl.lit("Joy")
            ),
        ]
    )
    report = train_classifier(lexicon, tmp_path / "model", ClassifierSettings(include_offline=True))
    assert report.teachers[0]["backend"] == "offline"
    assert report.evaluation.accuracy == 1.0
