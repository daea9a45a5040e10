"""Fixtures of the serving tests: the tiny base built here and a LoRA adapter on it.

The adapter is a real peft LoRA with random, non-zero A and B matrices (peft's
``init_lora_weights=False``), saved the way ``lora_adapter`` saves one (weights plus
the tokenizer): merging and serving it exercise the same code a trained one does,
without spending test time on training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = [
    "كنحس براسي بوحدي وما عندي حتى واحد نهضر معاه",
    "الله يكون معاك، احكي ليا كثر على هاد الوحدة.",
    "خفت بزاف من الامتحان",
    "I feel alone",
]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from darija_assets.training.tiny import ensure_tiny_base

    return ensure_tiny_base(tmp_path_factory.mktemp("tiny") / "base", CORPUS)


def save_random_adapter(base: Path, target: Path, seed: int = 7) -> Path:
    """A LoRA adapter with the tiny preset's shape and random weights, saved with the tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from darija_assets.training.presets import PRESETS

    preset = PRESETS["tiny"]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    config = LoraConfig(
        r=preset.lora_r,
        lora_alpha=preset.lora_alpha,
        target_modules=list(preset.target_modules),
        task_type="CAUSAL_LM",
        init_lora_weights=False,
    )
    get_peft_model(model, config).save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(target))
    return target


@pytest.fixture(scope="session")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    return save_random_adapter(tiny_base, tmp_path_factory.mktemp("adapter") / "lora")


#: what the memorising adapter learns to answer (the training tests' recipe)
TRAINED_ANSWER = "الله يكون معاك، احكي ليا كثر على هاد الوحدة."
PATIENT_TEXT = CORPUS[0]


@pytest.fixture(scope="session")
def trained_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path) -> Path:
    """A real LoRA adapter trained (30 steps) to give one answer: the chat page then has
    something readable to stream, as a trained adapter would."""
    import dataclasses

    from darija_assets.training.dataset import build_examples, load_tokenizer, save_dataset
    from darija_assets.training.formatting import DEFAULT_INSTRUCTION
    from darija_assets.training.presets import PRESETS
    from darija_assets.training.trainer import train_adapter

    preset = dataclasses.replace(PRESETS["tiny"], lr=5e-3, per_device_batch=2)
    rows = [
        {
            "pair_id": f"m{i}",
            "instruction": DEFAULT_INSTRUCTION,
            "input": PATIENT_TEXT,
            "output": TRAINED_ANSWER,
            "emotion": "Sadness",
            "style": "question",
            "backend": "offline-templates",
            "model": "templates-v1",
            "sentence_id": f"s{i}",
            "url": f"http://127.0.0.1/{i}",
            "source": "sample",
        }
        for i in range(8)
    ]
    work = tmp_path_factory.mktemp("trained")
    dataset, stats = build_examples(
        rows, None, load_tokenizer(preset, tiny_base), preset,
        validation_fraction=0, test_fraction=0,
    )  # fmt: skip
    save_dataset(dataset, stats, work / "dataset")
    train_adapter(
        preset, work / "dataset", tiny_base, work / "adapter", work / "checkpoints",
        max_steps=30, save_steps=100, seed=0,
    )  # fmt: skip
    return work / "adapter"


@pytest.fixture(scope="session")
def tiny_responder(tiny_base: Path, trained_adapter: Path):
    """The chat page's real responder: the tiny base with the trained adapter."""
    from darija_assets.serving.chat_app import ModelResponder
    from darija_assets.training.chat import load

    model, tokenizer = load(tiny_base, trained_adapter)
    return ModelResponder(model, tokenizer, max_new_tokens=40, max_prompt_tokens=256)
