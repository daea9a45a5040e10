"""GPU benchmark: QLoRA of an Atlas-Chat-9B-shaped model, against plain HF + PEFT defaults.

No weights can be downloaded on the GPU machines, so the model is Gemma 2 9B's
architecture (the shape of MBZUAI-Paris/Atlas-Chat-9B, written out below) with
random weights: speed and memory depend on the shape, not on the values. It is
initialised on the GPU, saved once in bf16, then loaded twice, in the same
process, on the same synthetic tokenized data (512-token examples, loss on the
second half):

* ours:  ``darija_assets.training.trainer.train_adapter`` with the ``atlas-chat-9b``
  preset: nf4 4-bit with double quantization, bf16 compute, LoRA r=16 alpha=16 on
  all projections, batch 2 x accumulation 8, paged_adamw_32bit, gradient
  checkpointing; the same code the lora_adapter asset runs.
* plain: transformers ``Trainer`` + ``peft.get_peft_model`` at library defaults:
  the base in bf16 (no quantization), the same LoRA and batch, AdamW, no
  gradient checkpointing. An out-of-memory error is caught and reported.

Prints tokens per second (trained tokens, after a warm-up step) and peak GPU
memory for both, and their ratios, as a JSON line too.

    python benchmarks/gpu_qlora.py                 # 9B shape, 6 optimizer steps each
    python benchmarks/gpu_qlora.py --layers 4      # a quick look at the same widths

Needs a CUDA GPU and bitsandbytes (pip install 'darija-assets[gpu]'); without
them it exits with status 2 and says why.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Gemma 2 9B, the base of Atlas-Chat-9B (its public config.json)
ATLAS_CHAT_9B_SHAPE: dict[str, Any] = {
    "vocab_size": 256000,
    "hidden_size": 3584,
    "intermediate_size": 14336,
    "num_hidden_layers": 42,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 256,
    "query_pre_attn_scalar": 224,
    "sliding_window": 4096,
    "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0,
    "max_position_embeddings": 8192,
    "hidden_activation": "gelu_pytorch_tanh",
}

EXIT_UNAVAILABLE = 2


def cuda_problem() -> str | None:
    """Why this machine cannot run the benchmark, or None when it can."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return (
            "gpu_qlora: no CUDA GPU here (torch.cuda.is_available() is False); this benchmark measures "
            "4-bit QLoRA, which only runs on CUDA. No figures were recorded."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        return "gpu_qlora: bitsandbytes is not installed (pip install 'darija-assets[gpu]'). No figures were recorded."
    return None


def save_random_base(directory: Path, layers: int) -> Path:
    """A randomly initialised Gemma 2 model of the 9B shape, saved in bf16, plus a small tokenizer."""
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from darija_assets.training.tiny import train_tokenizer

    config = Gemma2Config(**{**ATLAS_CHAT_9B_SHAPE, "num_hidden_layers": layers}, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Gemma2ForCausalLM._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(directory)
    # A locally trained tokenizer: its ids fit in the model's vocabulary, and the
    # trainer needs a pad id and a chat template; the token ids themselves are synthetic.
    train_tokenizer(["benchmark"]).save_pretrained(directory)
    del model
    _free_gpu()
    return directory


def save_synthetic_dataset(directory: Path, examples: int, seq_len: int, vocab_size: int) -> Path:
    """Tokenized examples of exactly ``seq_len`` tokens, loss on their second half."""
    import random

    from datasets import Dataset, DatasetDict

    from darija_assets.training.dataset import save_dataset
    from darija_assets.training.formatting import IGNORE_INDEX

    rng = random.Random(0)
    rows = []
    for i in range(examples):
        ids = [rng.randrange(10, vocab_size) for _ in range(seq_len)]
        labels = [IGNORE_INDEX] * (seq_len // 2) + ids[seq_len // 2 :]
        rows.append({"example_id": f"x{i}", "input_ids": ids, "labels": labels})
    return save_dataset(
        DatasetDict({"train": Dataset.from_list(rows)}), {"synthetic": True}, directory
    )


class StepClock:
    """Times optimizer steps; the first is warm-up (CUDA kernels, allocator, paging) and not counted."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def as_callback(self) -> Any:
        import torch
        from transformers import TrainerCallback

        clock = self

        class _Callback(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                torch.cuda.synchronize()
                clock.stamps.append(time.perf_counter())

        return _Callback()

    def tokens_per_second(self, tokens_per_step: int) -> float:
        if len(self.stamps) < 2:
            raise RuntimeError("need at least two optimizer steps to time one after warm-up")
        return tokens_per_step * (len(self.stamps) - 1) / (self.stamps[-1] - self.stamps[0])


def _free_gpu() -> None:
    import torch

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def run_ours(
    base: Path, dataset: Path, work: Path, steps: int, tokens_per_step: int
) -> dict[str, Any]:
    import torch

    from darija_assets.training.presets import PRESETS
    from darija_assets.training.trainer import train_adapter

    _free_gpu()
    clock = StepClock()
    started = time.perf_counter()
    train_adapter(
        PRESETS["atlas-chat-9b"],
        dataset,
        base,
        work / "adapter",
        work / "checkpoints",
        max_steps=steps,
        save_steps=10**9,
        callbacks=[clock.as_callback()],
    )
    return {
        "path": "ours: QLoRA nf4 double-quant bf16, paged_adamw_32bit, gradient checkpointing",
        "tokens_per_s": round(clock.tokens_per_second(tokens_per_step), 1),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def run_plain(
    base: Path, dataset: Path, work: Path, steps: int, tokens_per_step: int
) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

    from darija_assets.training.dataset import DynamicPaddingCollator, load_dataset
    from darija_assets.training.presets import PRESETS

    preset = PRESETS["atlas-chat-9b"]
    _free_gpu()
    clock = StepClock()
    started = time.perf_counter()
    result: dict[str, Any] = {
        "path": "plain: HF Trainer + PEFT defaults, bf16 base, AdamW, no checkpointing"
    }
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=torch.bfloat16, device_map={"": 0}, attn_implementation="eager"
        )
        model = get_peft_model(
            model,
            LoraConfig(
                r=preset.lora_r,
                lora_alpha=preset.lora_alpha,
                lora_dropout=preset.lora_dropout,
                target_modules=list(preset.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
        trainer = Trainer(
            model=model,
            args=TrainingArguments(
                output_dir=str(work / "plain"),
                per_device_train_batch_size=preset.per_device_batch,
                gradient_accumulation_steps=preset.grad_accum,
                learning_rate=preset.lr,
                max_steps=steps,
                bf16=True,
                save_strategy="no",
                report_to="none",
                logging_steps=1,
                disable_tqdm=True,
                remove_unused_columns=False,
            ),
            train_dataset=load_dataset(dataset)["train"].select_columns(["input_ids", "labels"]),
            data_collator=DynamicPaddingCollator(pad_token_id=0),
            callbacks=[clock.as_callback()],
        )
        trainer.train()
        result["tokens_per_s"] = round(clock.tokens_per_second(tokens_per_step), 1)
    except torch.OutOfMemoryError as error:
        result["oom"] = str(error).splitlines()[0]
    result["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int, default=6, help="optimizer steps per path (the first is warm-up)"
    )
    parser.add_argument("--layers", type=int, default=ATLAS_CHAT_9B_SHAPE["num_hidden_layers"])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--skip-plain", action="store_true", help="measure only our QLoRA path")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the random base is saved (~18 GB)"
    )
    args = parser.parse_args(argv)

    problem = cuda_problem()
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_UNAVAILABLE

    import torch

    from darija_assets.training.presets import PRESETS

    preset = PRESETS["atlas-chat-9b"]
    tokens_per_step = preset.per_device_batch * preset.grad_accum * args.seq_len
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        base = save_random_base(work / "base", args.layers)
        examples = tokens_per_step // args.seq_len * args.steps
        dataset = save_synthetic_dataset(
            work / "dataset", examples, args.seq_len, ATLAS_CHAT_9B_SHAPE["vocab_size"]
        )
        ours = run_ours(base, dataset, work, args.steps, tokens_per_step)
        plain = (
            None if args.skip_plain else run_plain(base, dataset, work, args.steps, tokens_per_step)
        )

    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0),
        "shape": {**ATLAS_CHAT_9B_SHAPE, "num_hidden_layers": args.layers},
        "tokens_per_step": tokens_per_step,
        "steps": args.steps,
        "ours": ours,
        "plain": plain,
    }
    for name in ("ours", "plain"):
        row = report[name]
        if row:
            print(
                f"{name:>5}: {row.get('tokens_per_s', 'OOM')} tokens/s, peak {row['peak_gpu_gib']} GiB "
                f"({row['path']})"
            )
    if plain and "tokens_per_s" in plain:
        report["speed_ratio_ours_over_plain"] = round(
            ours["tokens_per_s"] / plain["tokens_per_s"], 2
        )
        report["memory_ratio_ours_over_plain"] = round(
            ours["peak_gpu_gib"] / plain["peak_gpu_gib"], 2
        )
        print(
            f"ratio: {report['speed_ratio_ours_over_plain']}x speed, "
            f"{report['memory_ratio_ours_over_plain']}x peak memory"
        )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
