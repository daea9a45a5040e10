"""What keeps CPU training practical on a real-size corpus, and honest: a step budget,
evaluation on a capped sample of the validation split, and a test split that never
reaches the trainer.

The test split is checked by poisoning it: its token ids are outside the vocabulary,
so a single training or evaluation step over it would fail in the embedding lookup.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from darija_assets.training.dataset import (
    TEST,
    TRAIN,
    VALIDATION,
    build_examples,
    load_dataset,
    save_dataset,
)
from darija_assets.training.trainer import train_adapter

from .conftest import pair

pytestmark = pytest.mark.slow

EMOTIONS = ("Sadness", "Fear", "Joy", "Anger")


class EvalBatchCounter(TrainerCallback):
    """The number of batches of each evaluation (transformers calls on_prediction_step once
    per evaluation batch, then on_evaluate)."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self._running = 0

    def on_prediction_step(self, args, state, control, **kwargs):
        self._running += 1

    def on_evaluate(self, args, state, control, **kwargs):
        self.batches.append(self._running)
        self._running = 0


def _dataset(tmp_path: Path, tokenizer: Any, preset: Any, n: int, poison: str | None) -> Path:
    """``n`` pairs split 60/20/20; the ``poison`` split gets out-of-vocabulary token ids."""
    pairs = [pair(f"b{i:02d}", emotion=EMOTIONS[i % len(EMOTIONS)]) for i in range(n)]
    dataset, stats = build_examples(
        pairs, None, tokenizer, preset, seed=0, validation_fraction=0.2, test_fraction=0.2
    )
    if poison is not None:
        out_of_vocabulary = len(tokenizer) + 1000
        dataset[poison] = dataset[poison].map(
            lambda row: {"input_ids": [out_of_vocabulary] * len(row["input_ids"])}
        )
    return save_dataset(dataset, stats, tmp_path / "dataset")


def test_the_test_split_never_reaches_training_and_evaluation_is_capped(
    tmp_path: Path, tiny_base: Path, tiny_tokenizer: Any, fast_tiny_preset: Any
) -> None:
    preset = dataclasses.replace(fast_tiny_preset, eval_steps=2, eval_max_examples=3)
    dataset_dir = _dataset(tmp_path, tiny_tokenizer, preset, n=20, poison=TEST)
    splits = load_dataset(dataset_dir)
    assert {name: len(split) for name, split in splits.items()} == {
        TRAIN: 12,
        VALIDATION: 4,
        TEST: 4,
    }
    counter = EvalBatchCounter()

    result = train_adapter(
        preset,
        dataset_dir,
        tiny_base,
        tmp_path / "adapter",
        tmp_path / "ckpt",
        max_steps=4,
        callbacks=[counter],
    )

    assert result.global_step == 4
    assert (result.train_examples, result.validation_examples, result.eval_examples) == (12, 4, 3)
    # evaluations at steps 2 and 4, each over 3 examples in batches of 2
    assert [e["step"] for e in result.eval_loss] == [2, 4]
    assert counter.batches == [math.ceil(3 / preset.per_device_batch)] * 2


def test_the_poison_would_be_caught_if_the_split_were_used(
    tmp_path: Path, tiny_base: Path, tiny_tokenizer: Any, fast_tiny_preset: Any
) -> None:
    """The control for the test above: the same poison in the validation split fails."""
    preset = dataclasses.replace(fast_tiny_preset, eval_steps=1)
    dataset_dir = _dataset(tmp_path, tiny_tokenizer, preset, n=20, poison=VALIDATION)
    with pytest.raises(IndexError):
        train_adapter(
            preset, dataset_dir, tiny_base, tmp_path / "adapter", tmp_path / "ckpt", max_steps=2
        )


def test_the_preset_step_budget_stops_training_and_minus_one_lifts_it(
    tmp_path: Path, tiny_base: Path, memorise_dataset: Path, fast_tiny_preset: Any
) -> None:
    # 8 training examples, batch 2, 3 epochs: 12 steps without a budget
    assert (fast_tiny_preset.epochs, fast_tiny_preset.per_device_batch) == (3.0, 2)
    budgeted = dataclasses.replace(fast_tiny_preset, max_steps=5, save_steps=100)

    stopped = train_adapter(
        budgeted, memorise_dataset, tiny_base, tmp_path / "a1", tmp_path / "c1", seed=0
    )
    lifted = train_adapter(
        budgeted, memorise_dataset, tiny_base, tmp_path / "a2", tmp_path / "c2", max_steps=-1
    )
    explicit = train_adapter(
        budgeted, memorise_dataset, tiny_base, tmp_path / "a3", tmp_path / "c3", max_steps=3
    )

    assert stopped.global_step == 5
    assert lifted.global_step == 12
    assert explicit.global_step == 3
    assert "Steps: 5" in (tmp_path / "a1" / "README.md").read_text(encoding="utf-8")
