"""The encoder student: LoRA (the original recipe) on a tiny BERT built locally from a
config and a WordPiece tokenizer trained on the labels' own text. A few CPU steps:
it cannot learn much, so the test checks the recipe, the saved adapter, that a
loaded student predicts exactly what the trained one did, and that a rerun resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from darija_assets.classifier.encoder import (
    ENCODER_BASES,
    EncoderParams,
    EncoderStudent,
    EncoderUnavailable,
    train_wordpiece,
)
from darija_assets.classifier.student import load_student
from darija_assets.classifier.train import ClassifierSettings, train_classifier
from darija_assets.partitions import EMOTIONS
from darija_assets_tests.classifier.conftest import FRESH_SENTENCES

pytestmark = pytest.mark.slow

FEW_STEPS = EncoderParams(
    base="tiny", max_steps=12, learning_rate=1e-2, warmup_steps=0, batch_size=16, save_steps=6
)


@pytest.fixture(scope="module")
def encoder_run(labels_frame, tmp_path_factory):
    root = tmp_path_factory.mktemp("encoder")
    logs: list[str] = []
    report = train_classifier(
        labels_frame,
        root / "model",
        ClassifierSettings(kind="encoder", encoder=FEW_STEPS),
        base_dir=root / "base",
        work_dir=root / "work",
        log=logs.append,
    )
    return root, report, logs


def test_wordpiece_tokenizer_wraps_text_in_cls_and_sep():
    tokenizer = train_wordpiece(["راني فرحان بزاف", "خايف بزاف من غدا"] * 5, vocab_size=200)
    ids = tokenizer("فرحان بزاف")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.unk_token_id not in ids


def test_lora_follows_the_original_recipe(encoder_run):
    root, report, _ = encoder_run
    config = json.loads((report.directory / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 16, 0.1)
    assert set(config["target_modules"]) == {"query", "value"}
    assert config["task_type"] == "SEQ_CLS"
    assert (root / "base" / "config.json").exists()  # the tiny base was built locally


def test_encoder_trains_and_the_loaded_student_predicts_the_same(encoder_run):
    _, report, _ = encoder_run
    assert report.kind == "encoder" and report.counts["train"] > 0
    assert 0 <= report.evaluation.macro_f1 <= 1
    texts = list(FRESH_SENTENCES.values())
    loaded = load_student(report.directory)
    assert isinstance(loaded, EncoderStudent)
    assert set(loaded.labels) == set(EMOTIONS)
    probabilities = loaded.predict_proba(texts)
    assert probabilities.shape == (len(texts), len(EMOTIONS))
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    again = load_student(report.directory).predict(texts, batch_size=3)
    assert [p.label for p in again] == [p.label for p in loaded.predict(texts)]
    assert all(p.label in EMOTIONS and 0 < p.confidence <= 1 for p in again)


def test_a_rerun_resumes_from_the_last_checkpoint(encoder_run, labels_frame):
    root, _, _ = encoder_run
    logs: list[str] = []
    train_classifier(
        labels_frame,
        root / "model",
        ClassifierSettings(kind="encoder", encoder=FEW_STEPS),
        base_dir=root / "base",
        work_dir=root / "work",
        log=logs.append,
    )
    assert any("resuming from checkpoint-12" in line for line in logs), logs


def test_a_base_that_cannot_be_downloaded_says_so(labels_frame, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailable, match="DarijaBERT"):
        train_classifier(
            labels_frame,
            tmp_path / "model",
            ClassifierSettings(kind="encoder", encoder=EncoderParams(base="darijabert")),
            base_dir=tmp_path / "base",
            work_dir=tmp_path / "work",
        )
    assert ENCODER_BASES["marbert"] == "UBC-NLP/MARBERT"
