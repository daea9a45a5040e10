"""Cheap checks that a preset can run here, made before anything heavy is loaded.

A preset that needs a GPU on a machine without one, or a gated model with no
HF_TOKEN and no cached copy, fails in a second with a message that says what to
do, instead of minutes later inside a model download or a CUDA call.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from darija_assets.training.presets import NF4_DOUBLE_BF16, Preset


class TrainingUnavailable(RuntimeError):
    """This machine cannot use this preset (no GPU, no access to a gated model...)."""


def check_model_access(preset: Preset, base_model: str | Path) -> None:
    """A gated Hub model needs HF_TOKEN, unless it is a local directory or already cached."""
    if not preset.gated or Path(base_model).is_dir() or os.environ.get("HF_TOKEN"):
        return
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(str(base_model), "config.json"), str):
        raise TrainingUnavailable(
            f"{base_model} is a gated model: accept its licence on the Hugging Face Hub and set "
            "HF_TOKEN in the environment (it is not in the local cache either)."
        )


def check_device(preset: Preset) -> str:
    """The device to train ``preset`` on ("cuda" or "cpu"), or why there is none.

    Imports torch (for the CUDA check), never transformers/peft/trl/bitsandbytes.
    """
    import torch

    has_cuda = torch.cuda.is_available()
    if preset.requires_cuda and not has_cuda:
        raise TrainingUnavailable(
            f"model preset {preset.name!r} ({preset.model_id}) needs a CUDA GPU "
            f"({'4-bit QLoRA' if preset.quantization else 'training'} at this scale), and "
            "torch.cuda.is_available() is False on this machine. Run this partition on a GPU "
            "worker (the step is tagged for the 'gpu' pool/queue), or choose the 'tiny' preset."
        )
    needs_bitsandbytes = preset.quantization == NF4_DOUBLE_BF16 and has_cuda
    if needs_bitsandbytes and importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingUnavailable(
            f"model preset {preset.name!r} trains in 4-bit through bitsandbytes, which is "
            "not installed: pip install 'darija-assets[gpu]'"
        )
    return "cuda" if has_cuda else "cpu"


def preflight(preset: Preset, base_model: str | Path) -> str:
    """Both checks, device first; returns the device."""
    device = check_device(preset)
    check_model_access(preset, base_model)
    return device
