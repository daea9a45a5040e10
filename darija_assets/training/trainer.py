"""lora_adapter: LoRA (or QLoRA) training of one preset with trl's SFTTrainer.

- On CUDA with a quantized preset: the QLoRA recipe (bitsandbytes nf4 weights with
  double quantization, bf16 compute, ``prepare_model_for_kbit_training``,
  gradient checkpointing, the paged AdamW optimizer).
- On CPU (the ``tiny`` preset): plain LoRA over an fp32 model, ``use_cpu=True``,
  no bf16, never 4-bit (bitsandbytes' CPU path gives silently wrong gradients).

Before anything heavy is loaded, ``preflight`` fails fast when the preset needs a
GPU the machine lacks, or a gated model with no HF_TOKEN and no cached copy.

Checkpoints go to ``checkpoint_dir`` every ``save_steps``; a rerun after a crash,
kill or cancel resumes from the newest complete checkpoint, unless the inputs
changed (another dataset, preset or base), in which case the stale checkpoints
are cleared and the run starts over. The finished adapter directory (adapter
weights and config, tokenizer, model card) is swapped into ``output_dir`` atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from darija_assets import storage
from darija_assets.conversations.special_tokens import fit_embeddings
from darija_assets.training.dataset import (
    TRAIN,
    VALIDATION,
    DynamicPaddingCollator,
    added_tokens,
    dataset_tokenizer,
    load_dataset,
)
from darija_assets.training.preflight import preflight
from darija_assets.training.presets import NF4_DOUBLE_BF16, Preset

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainResult:
    adapter_dir: Path
    base_model: str
    device: str
    global_step: int
    #: the checkpoint step this run continued from, or None for a fresh run
    resumed_from_step: int | None
    train_examples: int
    #: validation examples evaluated on (at most the preset's ``eval_max_examples``)
    eval_examples: int
    #: validation examples in the dataset, of which ``eval_examples`` were sampled
    validation_examples: int
    #: ``{"step", "loss"}`` per logged step, including steps done before a resume
    train_loss: list[dict[str, float]] = field(default_factory=list)
    #: ``{"step", "eval_loss"}`` per evaluation, the last one after training ends
    eval_loss: list[dict[str, float]] = field(default_factory=list)
    #: trainer metrics of the final run (train_runtime, train_loss, final eval_loss...)
    metrics: dict[str, float] = field(default_factory=dict)
    #: tokens the dataset's tokenizer added to the base's, whose embedding rows were trained
    added_tokens: list[str] = field(default_factory=list)

    def loss_curve(self) -> list[dict[str, float | None]]:
        """One row per logged step: ``{"step", "train_loss", "eval_loss"}`` (None where not logged),
        ready for a metadata table or plot."""
        steps: dict[int, dict[str, float | None]] = {}
        for entry in self.train_loss:
            steps.setdefault(entry["step"], {"eval_loss": None})["train_loss"] = entry["loss"]
        for entry in self.eval_loss:
            steps.setdefault(entry["step"], {"train_loss": None})["eval_loss"] = entry["eval_loss"]
        return [{"step": step, **steps[step]} for step in sorted(steps)]


def _checkpoints(checkpoint_dir: Path) -> list[tuple[int, Path]]:
    found = []
    if checkpoint_dir.is_dir():
        for path in checkpoint_dir.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
    return sorted(found)


def _is_complete(checkpoint: Path) -> bool:
    # The trainer writes its state last, after weights, optimizer and RNG states.
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def latest_checkpoint(checkpoint_dir: Path | str) -> tuple[int, Path] | None:
    """The newest checkpoint that was written completely."""
    complete = [(s, p) for s, p in _checkpoints(Path(checkpoint_dir)) if _is_complete(p)]
    return complete[-1] if complete else None


def _run_fingerprint(
    preset: Preset, base_model: str, dataset: Any, seed: int, max_steps: int | None
) -> str:
    """What a checkpoint must agree with to be resumed from (the step budget included: the
    learning-rate schedule is laid out over it)."""
    identity = {
        "preset": dataclasses.asdict(preset),
        "base_model": base_model,
        "seed": seed,
        "max_steps": max_steps,
        "dataset": {name: dataset[name]._fingerprint for name in sorted(dataset)},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _claim_checkpoint_dir(
    checkpoint_dir: Path, fingerprint: str, log: Callable[[str], None]
) -> None:
    """Clear what must not be resumed from: checkpoints of a different run (other data or
    settings), and checkpoints a killed process left half-written."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    run_file = checkpoint_dir / RUN_FILE
    if run_file.exists() and json.loads(run_file.read_text())["fingerprint"] != fingerprint:
        stale = _checkpoints(checkpoint_dir)
        log(f"inputs changed since the last run: discarding {len(stale)} stale checkpoint(s)")
        for _, path in stale:
            shutil.rmtree(path)
    for _, path in _checkpoints(checkpoint_dir):
        if not _is_complete(path):
            log(f"discarding {path.name}: written only partly (no readable trainer state)")
            shutil.rmtree(path)
    storage.write_json({"fingerprint": fingerprint}, run_file)


def _eval_sample(validation: Any, limit: int, seed: int) -> Any:
    """The validation examples evaluated on: all of them up to ``limit``, else a seeded
    sample of ``limit`` (the split is stratified by emotion, so a uniform sample keeps
    its mix). None when there is no validation split."""
    if validation is None or len(validation) == 0:
        return None
    if len(validation) <= limit:
        return validation
    return validation.shuffle(seed=seed).select(range(limit))


def _load_model(preset: Preset, base_model: str, device: str, tokenizer: Any) -> Any:
    """The base model for training, its embeddings grown to ``tokenizer`` (added tokens)
    before any k-bit preparation."""
    model = _load_base(preset, base_model, device)
    fit_embeddings(model, tokenizer)
    if device != "cpu" and preset.quantization == NF4_DOUBLE_BF16:
        from peft import prepare_model_for_kbit_training

        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    return model


def _load_base(preset: Preset, base_model: str, device: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {}
    if preset.family == "gemma2":
        # Gemma 2's attention logit soft-capping is only implemented on the eager path.
        kwargs["attn_implementation"] = "eager"
    if device == "cpu":
        return AutoModelForCausalLM.from_pretrained(base_model, dtype=torch.float32, **kwargs)
    if preset.quantization == NF4_DOUBLE_BF16:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        return AutoModelForCausalLM.from_pretrained(
            base_model,
            quantization_config=quantization,
            dtype=torch.bfloat16,
            device_map={"": 0},
            **kwargs,
        )
    return AutoModelForCausalLM.from_pretrained(
        base_model, dtype=torch.bfloat16, device_map={"": 0}, **kwargs
    )


def _new_token_rows(model: Any, token_ids: Sequence[int]) -> list[int] | dict[str, list[int]]:
    """peft's ``trainable_token_indices`` for the added tokens: their rows of the input
    embeddings, and of the output embeddings too when the head is not tied to them (peft
    follows a tied head by itself)."""
    ids = list(token_ids)
    if model.config.get_text_config().tie_word_embeddings:
        return ids
    names = {id(module): name.rsplit(".", 1)[-1] for name, module in model.named_modules()}
    return {
        names[id(model.get_input_embeddings())]: ids,
        names[id(model.get_output_embeddings())]: ids,
    }


def _expose_head_bias(model: Any) -> None:
    """Let trl's fused LM head read the LM head once peft wraps it for trainable tokens.

    trl computes the loss from ``lm_head.weight`` and ``lm_head.bias`` directly. peft's
    ``TrainableTokensWrapper`` answers ``weight`` with the base rows and the trained rows
    swapped in (gradients reach the trained ones) but not ``bias``, so training stops with
    an AttributeError. The heads of the supported families have no bias: say so on the
    wrapper. Raises ValueError for a head with a bias (it would be left out of the loss).
    """
    from peft.utils.other import TrainableTokensWrapper

    head = model.get_output_embeddings()
    if not isinstance(head, TrainableTokensWrapper):
        return
    if head.token_adapter.base_layer.bias is not None:
        raise ValueError("added tokens on a model whose LM head has a bias are not supported")
    head.bias = None


def _loss_history(log_history: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[dict]]:
    train = [{"step": e["step"], "loss": e["loss"]} for e in log_history if "loss" in e]
    evals = [
        {"step": e["step"], "eval_loss": e["eval_loss"]} for e in log_history if "eval_loss" in e
    ]
    return train, evals


def train_adapter(
    preset: Preset,
    dataset_dir: Path | str,
    base_model: str | Path,
    output_dir: Path | str,
    checkpoint_dir: Path | str,
    *,
    max_steps: int | None = None,
    save_steps: int | None = None,
    seed: int = 0,
    lineage: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter for ``preset`` on the tokenized dataset in ``dataset_dir``.

    ``base_model``: a local directory (the tiny base, a pre-downloaded model) or a Hub id.
    ``max_steps``: stop after this many optimizer steps (default: the preset's budget,
    ``preset.max_steps``; -1: the preset's epochs with no budget).
    ``save_steps``: checkpoint interval (default: the preset's).
    ``lineage``: where the data came from (asset keys, partitions, row counts, backends);
    written into the model card as is.
    ``callbacks``: extra ``transformers.TrainerCallback``s, e.g. to stop on a cancel.

    Trains on the dataset's ``train`` split and evaluates every ``preset.eval_steps`` on a
    seeded sample of at most ``preset.eval_max_examples`` of its ``validation`` split; the
    ``test`` split is never loaded into the trainer.
    """
    log = log or logger.info
    base_model = str(base_model)
    output_dir, checkpoint_dir = Path(output_dir), Path(checkpoint_dir)
    device = preflight(preset, base_model)

    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset(dataset_dir)
    if TRAIN not in dataset:
        raise ValueError(f"the tokenized dataset in {dataset_dir} has no training examples")
    budget = preset.max_steps if max_steps is None else (None if max_steps < 0 else max_steps)
    train_split = dataset[TRAIN]
    validation = dataset.get(VALIDATION)
    eval_split = _eval_sample(validation, preset.eval_max_examples, seed)
    fingerprint = _run_fingerprint(preset, base_model, dataset, seed, budget)
    _claim_checkpoint_dir(checkpoint_dir, fingerprint, log)
    resume = latest_checkpoint(checkpoint_dir)

    tokenizer = dataset_tokenizer(dataset_dir, preset, base_model)
    new_tokens = added_tokens(tokenizer, preset, base_model)
    model = _load_model(preset, base_model, device, tokenizer)
    on_cpu = device == "cpu"
    config = SFTConfig(
        output_dir=str(checkpoint_dir),
        max_length=preset.max_length,
        per_device_train_batch_size=preset.per_device_batch,
        per_device_eval_batch_size=preset.per_device_batch,
        gradient_accumulation_steps=preset.grad_accum,
        num_train_epochs=preset.epochs,
        max_steps=budget if budget is not None else -1,
        learning_rate=preset.lr,
        # paged optimizers live in bitsandbytes (CUDA only)
        optim=preset.optimizer if not on_cpu else "adamw_torch",
        logging_steps=1,
        eval_strategy="steps" if eval_split is not None else "no",
        eval_steps=preset.eval_steps,
        save_strategy="steps",
        save_steps=save_steps or preset.save_steps,
        save_total_limit=2,
        seed=seed,
        data_seed=seed,
        use_cpu=on_cpu,
        bf16=not on_cpu,
        activation_checkpointing=not on_cpu,
        report_to="none",
        # The dataset is tokenized, masked and length-filtered already; re-preparing it would
        # also write datasets' cache files into the stored dataset directory.
        dataset_kwargs={"skip_prepare_dataset": True},
        remove_unused_columns=True,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=preset.lora_r,
        lora_alpha=preset.lora_alpha,
        lora_dropout=preset.lora_dropout,
        target_modules=list(preset.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
        # Added tokens (the special-token format) start as untrained rows. Only those rows
        # are trained and saved (a few KB), not whole embedding matrices as modules_to_save
        # would (Gemma 2's 256k x 2304 twice, about 2 GB in fp16, per adapter).
        trainable_token_indices=_new_token_rows(model, new_tokens.values()) if new_tokens else None,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_split,
        eval_dataset=eval_split,
        processing_class=tokenizer,
        data_collator=DynamicPaddingCollator(tokenizer.pad_token_id),
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    if new_tokens:
        _expose_head_bias(trainer.model)
    if resume:
        log(f"resuming from {resume[1].name} (step {resume[0]})")
    else:
        log(f"training {preset.name} from {base_model} on {device}, no checkpoint to resume")
    train_output = trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
    # The trainer evaluates (and checkpoints) at the last step itself, so no extra evaluate() here.
    train_loss, eval_loss = _loss_history(trainer.state.log_history)
    metrics = dict(train_output.metrics)
    if eval_loss:
        metrics["eval_loss"] = eval_loss[-1]["eval_loss"]

    result = TrainResult(
        adapter_dir=output_dir,
        base_model=base_model,
        device=device,
        global_step=trainer.state.global_step,
        resumed_from_step=resume[0] if resume else None,
        train_examples=len(train_split),
        eval_examples=len(eval_split) if eval_split is not None else 0,
        validation_examples=len(validation) if validation is not None else 0,
        train_loss=train_loss,
        eval_loss=eval_loss,
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
        added_tokens=list(new_tokens),
    )
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.building-", dir=output_dir.parent))
    try:
        # peft would also save the whole (resized) embedding matrices when the vocabulary
        # grew; the trainable-token rows are all an adapter needs over the unchanged base
        trainer.model.save_pretrained(str(building), save_embedding_layers=False)
        tokenizer.save_pretrained(str(building))
        (building / "README.md").write_text(
            model_card(preset, result, lineage or {}), encoding="utf-8"
        )
        storage.replace_dir(building, output_dir)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log(f"adapter saved to {output_dir} after {result.global_step} steps")
    return result


def model_card(preset: Preset, result: TrainResult, lineage: Mapping[str, Any]) -> str:
    """A Hugging Face model card: what the adapter sits on, what it learnt from, how, and how well."""
    settings = {
        "lora": {
            "r": preset.lora_r,
            "alpha": preset.lora_alpha,
            "dropout": preset.lora_dropout,
            "target_modules": list(preset.target_modules),
        },
        "quantization": preset.quantization if result.device == "cuda" else None,
        "max_length": preset.max_length,
        "per_device_batch": preset.per_device_batch,
        "grad_accum": preset.grad_accum,
        "epochs": preset.epochs,
        "learning_rate": preset.lr,
        "optimizer": preset.optimizer if result.device == "cuda" else "adamw_torch",
        "device": result.device,
        "added_tokens": result.added_tokens,
    }
    final_eval = (
        f"{result.eval_loss[-1]['eval_loss']:.4f}" if result.eval_loss else "none (no eval split)"
    )
    final_train = f"{result.train_loss[-1]['loss']:.4f}" if result.train_loss else "none"
    base_id = "local-tiny-gemma2" if preset.is_local_tiny else preset.model_id
    return "\n".join(
        [
            "---",
            f"base_model: {base_id}",
            "library_name: peft",
            "pipeline_tag: text-generation",
            "tags: [darija, lora, sft, trl, darija-assets]",
            "---",
            "",
            f"# darija-assets LoRA adapter: {preset.name}",
            "",
            (
                "An empathetic Moroccan-psychologist adapter trained on Darija therapy pairs "
                "(and their English translations where present) by the darija-assets pipeline."
            ),
            "",
            f"- Base model: {base_id}, loaded from {result.base_model}",
            f"- Trained: {datetime.now(timezone.utc).isoformat(timespec='seconds')} on {result.device}",
            f"- Steps: {result.global_step}"
            + (
                f" (resumed from step {result.resumed_from_step})"
                if result.resumed_from_step
                else ""
            ),
            (
                f"- Examples: {result.train_examples} train; evaluated on {result.eval_examples}"
                f" of {result.validation_examples} validation (the test split is held out)"
            ),
            f"- Last train loss: {final_train}",
            f"- Final eval loss: {final_eval}",
            "",
            "## Data lineage",
            "",
            "```json",
            json.dumps(dict(lineage), ensure_ascii=False, indent=2, sort_keys=True, default=str),
            "```",
            "",
            "## Metrics",
            "",
            "```json",
            json.dumps(
                {k: round(v, 6) for k, v in result.metrics.items()}, indent=2, sort_keys=True
            ),
            "```",
            "",
            "## Settings",
            "",
            "```json",
            json.dumps(settings, indent=2),
            "```",
            "",
            "## Use",
            "",
            f"    python -m darija_assets.training.chat --base {result.base_model} --adapter {result.adapter_dir}",
            "",
        ]
    )
