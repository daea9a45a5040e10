"""Fixtures of the serving tests: the tiny base built here and a LoRA adapter on it.

The adapter is a real peft LoRA with random, non-zero A and B matrices (peft's
``init_lora_weights=False``), saved the way ``lora_adapter`` saves one (weights plus
the tokenizer): merging and serving it exercise the same code a trained one does,
without spending test time on training.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

CORPUS = [
    "كنحس براسي بوحدي وما عندي حتى واحد نهضر معاه",
    "الله يكون معاك، احكي ليا كثر على هاد الوحدة.",
    "خفت بزاف من الامتحان",
    "I feel alone",
]


@pytest.fixture(scope="session", autouse=True)
def _offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            patch.setenv(name, "1")
        yield


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
