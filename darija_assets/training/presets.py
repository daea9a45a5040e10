"""Model presets: one per value of the `model` partition dimension.

A preset says everything that belongs to a base model: where it comes from, how
its chat turns are written, how long an example may be, and how it is trained
(LoRA shape, quantization, batch sizes, optimizer). The names match
``darija_assets.partitions.MODEL_PRESETS``.

This module must stay import-light: the code location imports it while loading,
so nothing from torch, transformers, peft, trl, datasets or bitsandbytes here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: every projection of a Gemma 2 / Qwen 2 / Llama block, as the original project trained them
ALL_LINEAR_PROJECTIONS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)

#: QLoRA's recipe: 4-bit NormalFloat weights, quantized quantization constants, bf16 compute
NF4_DOUBLE_BF16 = "nf4-double-bf16"

#: where a preset's base model comes from when no model id is given: built here, never downloaded
LOCAL_TINY_MODEL = "local:tiny"


@dataclass(frozen=True)
class Preset:
    """How one base model is formatted, tokenized and LoRA-trained."""

    name: str
    #: a Hugging Face model id, or ``LOCAL_TINY_MODEL`` for the model built by ``training.tiny``
    model_id: str
    #: architecture family, for people and model cards ("gemma2", "qwen2")
    family: str
    #: a Jinja chat template that replaces the tokenizer's own; None keeps the model's template
    chat_template: str | None
    #: examples longer than this many tokens are filtered out (and counted), never truncated
    max_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: tuple[str, ...]
    #: ``NF4_DOUBLE_BF16`` for QLoRA on CUDA, or None for a full-precision base
    quantization: str | None
    per_device_batch: int
    grad_accum: int
    epochs: float
    #: a step budget: training stops after this many optimizer steps even if epochs remain
    #: (None: the epochs alone decide). The run config's ``max_steps`` overrides it.
    max_steps: int | None
    lr: float
    optimizer: str
    #: evaluate on the validation split every this many optimizer steps (and at the end)
    eval_steps: int
    #: evaluate on at most this many validation examples (a seeded sample), so evaluation
    #: stays a small fraction of training time however large the corpus is
    eval_max_examples: int
    #: a checkpoint every this many optimizer steps, so a killed run resumes close to where it died
    save_steps: int
    requires_cuda: bool
    #: the model's licence must be accepted on the Hub: needs HF_TOKEN unless already cached
    gated: bool

    @property
    def is_local_tiny(self) -> bool:
        return self.model_id == LOCAL_TINY_MODEL


def _original_atlas_recipe(name: str, model_id: str) -> Preset:
    """The settings the original project QLoRA-trained Atlas-Chat-9B with."""
    return Preset(
        name=name,
        model_id=model_id,
        family="gemma2",
        chat_template=None,
        max_length=512,
        lora_r=16,
        lora_alpha=16,
        lora_dropout=0.05,
        target_modules=ALL_LINEAR_PROJECTIONS,
        quantization=NF4_DOUBLE_BF16,
        per_device_batch=2,
        grad_accum=8,
        epochs=1.0,
        max_steps=None,
        lr=2e-4,
        optimizer="paged_adamw_32bit",
        eval_steps=50,
        eval_max_examples=500,
        save_steps=50,
        requires_cuda=True,
        gated=True,
    )


PRESETS: dict[str, Preset] = {
    # The embedded default: a Gemma-2-architecture model small enough to train on a laptop CPU.
    # Plain LoRA in fp32 (4-bit training on CPU gives silently wrong gradients) and a plain
    # AdamW, since the paged optimizers live in bitsandbytes, which is CUDA-only.
    "tiny": Preset(
        name="tiny",
        model_id=LOCAL_TINY_MODEL,
        family="gemma2",
        chat_template=None,  # the tiny tokenizer is built with the Gemma-style template
        max_length=512,
        lora_r=16,
        lora_alpha=16,
        lora_dropout=0.05,
        target_modules=ALL_LINEAR_PROJECTIONS,
        quantization=None,
        per_device_batch=2,
        grad_accum=1,
        # A randomly initialised model this small learns nothing in one pass at 2e-4: a few
        # epochs at a high rate let the embedded default at least pick up Darija words.
        epochs=3.0,
        # A step budget: 3 epochs of a real-size corpus (5,600 pairs) would be 8,400 steps.
        # On the shared 2-core machine 100 steps took 40 to 80 s and one evaluation of 200
        # examples 4 to 30 s, depending on the load (benchmarks/measure_training.py), so a
        # run stays under ten minutes; the bundled sample's pairs end their 3 epochs first.
        max_steps=500,
        lr=1e-2,
        optimizer="adamw_torch",
        eval_steps=100,
        eval_max_examples=200,
        save_steps=25,
        requires_cuda=False,
        gated=False,
    ),
    "atlas-chat-2b": _original_atlas_recipe("atlas-chat-2b", "MBZUAI-Paris/Atlas-Chat-2B"),
    "atlas-chat-9b": _original_atlas_recipe("atlas-chat-9b", "MBZUAI-Paris/Atlas-Chat-9B"),
    # A non-Gemma base with a ChatML template and a system turn, to keep the formatting honest.
    # It is trained with the Atlas recipe unchanged (same QLoRA shape, batches and optimizer);
    # only where it comes from, its family and its ungated licence differ. chat_template stays
    # None: Qwen ships a ChatML template.
    "qwen2.5-0.5b-instruct": replace(
        _original_atlas_recipe("qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
        family="qwen2",
        gated=False,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``, or a KeyError that lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown model preset {name!r}; known presets: {', '.join(PRESETS)}"
        ) from None
