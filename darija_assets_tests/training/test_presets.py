"""Model presets: one per model partition, the original project's recipe, and cheap to import.

The code location imports presets while loading, so presets must not drag in
the ML stack (peft alone costs seconds).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from darija_assets.partitions import MODEL_PRESETS
from darija_assets.training.presets import (
    ALL_LINEAR_PROJECTIONS,
    NF4_DOUBLE_BF16,
    PRESETS,
    get_preset,
)


def test_one_preset_per_model_partition() -> None:
    assert tuple(PRESETS) == MODEL_PRESETS
    assert all(name == preset.name for name, preset in PRESETS.items())


@pytest.mark.parametrize(
    "name, model_id",
    [
        ("atlas-chat-2b", "MBZUAI-Paris/Atlas-Chat-2B"),
        ("atlas-chat-9b", "MBZUAI-Paris/Atlas-Chat-9B"),
    ],
)
def test_atlas_presets_keep_the_original_recipe(name: str, model_id: str) -> None:
    preset = PRESETS[name]

    assert (preset.model_id, preset.family, preset.gated, preset.requires_cuda) == (
        model_id,
        "gemma2",
        True,
        True,
    )
    assert preset.quantization == NF4_DOUBLE_BF16
    assert (preset.lora_r, preset.lora_alpha, preset.lora_dropout) == (16, 16, 0.05)
    assert preset.target_modules == (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    assert (preset.epochs, preset.per_device_batch, preset.grad_accum, preset.lr) == (
        1.0,
        2,
        8,
        2e-4,
    )
    assert (preset.max_length, preset.optimizer, preset.eval_steps, preset.max_steps) == (
        512,
        "paged_adamw_32bit",
        50,
        None,  # one epoch, as the original did
    )


def test_tiny_trains_on_cpu_without_quantization_and_qwen_is_not_gemma() -> None:
    tiny = PRESETS["tiny"]
    assert (
        tiny.is_local_tiny
        and not tiny.requires_cuda
        and tiny.quantization is None
        and not tiny.gated
    )
    qwen = PRESETS["qwen2.5-0.5b-instruct"]
    assert (qwen.model_id, qwen.family, qwen.gated) == (
        "Qwen/Qwen2.5-0.5B-Instruct",
        "qwen2",
        False,
    )
    assert qwen.target_modules == ALL_LINEAR_PROJECTIONS


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known presets: tiny, atlas-chat-2b"):
        get_preset("llama")


def test_training_modules_import_no_ml_library() -> None:
    # presets is imported by the code location; the others must stay cheap to import too,
    # loading torch & co. only inside the functions that need them.
    heavy = ["torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "tokenizers"]
    modules = [
        "presets",
        "templates",
        "formatting",
        "preflight",
        "tiny",
        "dataset",
        "trainer",
        "chat",
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('darija_assets.training.' + name)\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
