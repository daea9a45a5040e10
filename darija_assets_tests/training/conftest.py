"""Shared fixtures of the training tests: one tiny base model and one trained adapter per session.

Everything is built locally (tokenizer trained here, model from a config), with the
Hugging Face libraries told to stay offline, so these tests prove the real
transformers/peft/trl path without a download.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from darija_assets.training.formatting import DEFAULT_INSTRUCTION

PATIENT_TEXT = "كنحس براسي بوحدي وما عندي حتى واحد نهضر معاه"
ANSWER = "الله يكون معاك، احكي ليا كثر على هاد الوحدة."


def pair(pair_id: str, **overrides: Any) -> dict[str, Any]:
    """A therapy_pairs row with every column of the shared schema."""
    row = {
        "pair_id": pair_id,
        "instruction": DEFAULT_INSTRUCTION,
        "input": f"{PATIENT_TEXT} {pair_id}",
        "output": ANSWER,
        "emotion": "Sadness",
        "style": "question",
        "backend": "offline-templates",
        "model": "templates-v1",
        "sentence_id": f"s-{pair_id}",
        "url": f"http://127.0.0.1/story/{pair_id}",
        "source": "sample",
    }
    row.update(overrides)
    return row


CORPUS = [
    PATIENT_TEXT,
    ANSWER,
    "خفت بزاف من الامتحان",
    "فرحان حيت نجحت",
    "I feel alone",
    "Sorry to hear that.",
]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from darija_assets.training.tiny import ensure_tiny_base

    return ensure_tiny_base(tmp_path_factory.mktemp("tiny") / "base", CORPUS)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_base: Path) -> Any:
    from darija_assets.training.dataset import load_tokenizer
    from darija_assets.training.presets import PRESETS

    return load_tokenizer(PRESETS["tiny"], tiny_base)


@pytest.fixture(scope="session")
def chatml_tokenizer() -> Any:
    """A Qwen-style (ChatML) tokenizer trained here: proves formatting is not Gemma-specific."""
    from darija_assets.training.templates import CHATML_STYLE
    from darija_assets.training.tiny import train_tokenizer

    return train_tokenizer(CORPUS, CHATML_STYLE)


@pytest.fixture(scope="session")
def fast_tiny_preset() -> Any:
    """The tiny preset with a learning rate high enough to memorise a handful of examples quickly."""
    from darija_assets.training.presets import PRESETS

    return dataclasses.replace(PRESETS["tiny"], lr=5e-3, per_device_batch=2)


@pytest.fixture(scope="session")
def memorise_dataset(
    tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: Any, fast_tiny_preset: Any
) -> Path:
    """Eight pairs with one patient text and one answer: a model can learn them in a few steps."""
    from darija_assets.training.dataset import build_examples, save_dataset

    pairs = [pair(f"m{i}", input=PATIENT_TEXT) for i in range(8)]
    dataset, stats = build_examples(
        pairs, None, tiny_tokenizer, fast_tiny_preset, validation_fraction=0, test_fraction=0
    )
    return save_dataset(dataset, stats, tmp_path_factory.mktemp("memorise") / "dataset")


@pytest.fixture(scope="session")
def trained_adapter(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_base: Path,
    memorise_dataset: Path,
    fast_tiny_preset: Any,
) -> tuple[Path, Any]:
    from darija_assets.training.trainer import train_adapter

    work = tmp_path_factory.mktemp("adapter")
    result = train_adapter(
        fast_tiny_preset,
        memorise_dataset,
        tiny_base,
        work / "adapter",
        work / "checkpoints",
        max_steps=30,
        save_steps=100,
        seed=0,
        lineage={"therapy_pairs": {"partitions": ["Sadness"], "rows": 8}},
    )
    return work / "adapter", result
