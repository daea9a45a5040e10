"""tokenized_dataset[model] -> lora_adapter[model]: the training half of the graph.

The tokenized dataset belongs to the base model (its tokenizer and chat template),
so both assets are partitioned by model preset. lora_adapter is the GPU step: it
sits in the `gpu` pool and carries the tags that route it to GPU workers on the k8s
and Celery executors. The `tiny` preset trains on CPU.
"""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from darija_assets import checks
from darija_assets.assets.conversations import EXAMPLES_TABLE, conversations
from darija_assets.assets.metadata import chart, distribution, scalar_stats
from darija_assets.assets.therapy import read_all_partitions, therapy_pairs
from darija_assets.assets.translations import translations
from darija_assets.charts import loss_curves
from darija_assets.partitions import EMOTIONS, model_partitions, source_partitions
from darija_assets.resources import StorageResource
from darija_assets.training.dataset import (
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    TEST_FRACTION,
    TOKENIZER_DIR,
    VALIDATION_FRACTION,
)
from darija_assets.training.presets import PRESETS, Preset
from darija_assets.training.tiny import base_model_location

#: read by dagster-k8s's k8s_job_executor / run launcher from the step's tags
GPU_K8S_CONFIG = {
    "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    "pod_spec_config": {"node_selector": {"nvidia.com/gpu.present": "true"}},
}


LOSS_COLUMNS = ("step", "train_loss", "eval_loss")


class TokenizeConfig(dg.Config):
    validation_fraction: float = Field(
        default=VALIDATION_FRACTION,
        description="Share of pair groups held out for validation (evaluated during training).",
    )
    test_fraction: float = Field(
        default=TEST_FRACTION,
        description="Share of pair groups held out for the final test; never trained on.",
    )
    seed: int = Field(default=42, description="Draws the stratified split.")
    kind_caps: dict[str, int] = Field(
        default_factory=dict,
        description="The most examples of a kind (therapy, translation, chat, session), "
        "drawn by whole conversations or pairs with the seed; a kind not named is not capped.",
    )
    conversation_format: str = Field(
        default=CHAT_TEMPLATE,
        description=f"How chat and session examples are written: {CHAT_TEMPLATE!r} (the "
        f"preset's chat template) or {SPECIAL_TOKENS!r} (the WhatsApp project's "
        "`<USR_A> ... <SYS> reply`: its tokens are added to the tokenizer saved with the "
        "dataset, and lora_adapter grows and trains their embedding rows).",
    )


class TrainConfig(dg.Config):
    max_steps: int = Field(
        default=0,
        description=(
            "Optimizer steps: 0 = the preset's budget (tiny: 500; the GPU presets: none, "
            "their epochs), -1 = the preset's epochs with no budget, N > 0 = N steps."
        ),
    )
    eval_steps: int = Field(
        default=0, description="Evaluate every N optimizer steps; 0 = the preset's (tiny: 100)."
    )
    eval_max_examples: int = Field(
        default=0,
        description="Evaluate on a seeded sample of at most N validation examples; 0 = the "
        "preset's (tiny: 200, GPU presets: 500).",
    )
    seed: int = 42


def _with_overrides(preset: Preset, config: TrainConfig) -> Preset:
    """The preset with the run config's evaluation settings, where it sets them."""
    changes = {
        name: getattr(config, name)
        for name in ("eval_steps", "eval_max_examples")
        if getattr(config, name) > 0
    }
    return replace(preset, **changes)


def _step_budget(preset: Preset, config: TrainConfig) -> int | str:
    steps = preset.max_steps if config.max_steps == 0 else config.max_steps
    return steps if steps is not None and steps > 0 else "none (the preset's epochs)"


def _emotions_per_split(stats: dict) -> dg.MetadataValue:
    """Examples per emotion (rows) and split (columns): the stratification at a glance."""
    per_split = stats["per_split"]
    emotions = sorted({e for split in per_split.values() for e in split.get("emotion", {})})
    splits = list(per_split)
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {"emotion": e, **{s: int(per_split[s]["emotion"].get(e, 0)) for s in splits}}
            )
            for e in emotions
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn("emotion", "string")]
            + [dg.TableColumn(s, "int") for s in splits]
        ),
    )


def _mixture_table(mixture: dict) -> dg.MetadataValue:
    """Examples per kind: candidates, left out by the kind's cap, dropped for length or for
    having no answer token, and kept."""
    columns = ("candidates", "capped", "too_long_or_no_answer", "kept")
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({"kind": kind, **{c: int(counts[c]) for c in columns}})
            for kind, counts in mixture.items()
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn("kind", "string")] + [dg.TableColumn(c, "int") for c in columns]
        ),
    )


def _tokenizer_corpus(layout, pairs: pl.DataFrame) -> Iterator[str]:
    """Texts the tiny tokenizer is trained on. A generator, so the sentences are only
    read when the tiny base still has to be built."""
    sentences, _ = read_all_partitions(layout, "sentences", source_partitions.get_partition_keys())
    if sentences is not None:
        yield from sentences["sentence"]
    yield from pairs["input"]
    yield from pairs["output"]


@dg.asset(
    partitions_def=model_partitions,
    deps=[
        dg.AssetDep(therapy_pairs, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(translations, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(conversations, partition_mapping=dg.AllPartitionMapping()),
    ],
    group_name="training",
    kinds={"huggingface"},
    check_specs=checks.partitioned(
        model_partitions,
        [
            dg.AssetCheckSpec(
                "answer_only_loss",
                asset="tokenized_dataset",
                description="Every example trains on some answer tokens and on nothing but answer tokens.",
                blocking=True,
            )
        ],
    ),
)
def tokenized_dataset(
    context: dg.AssetExecutionContext, config: TokenizeConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """Chat-formatted examples with answer-only labels in HF datasets format, split
    train/validation/test (80/10/10 by default, seeded, stratified by emotion): therapy
    pairs, their translations, and every source's conversation examples (chat replies,
    session windows), each kind capped by ``kind_caps``."""
    from darija_assets.conversations.examples import examples_from_frame
    from darija_assets.training.dataset import (
        added_tokens,
        build_examples,
        load_tokenizer,
        save_dataset,
    )
    from darija_assets.training.tiny import ensure_tiny_base

    preset = PRESETS[context.partition_key]
    layout = storage.layout()
    pairs, emotions = read_all_partitions(layout, "therapy_pairs", list(EMOTIONS))
    if pairs is None or pairs.height == 0:
        raise dg.Failure(description="no therapy pairs yet: materialize therapy_job first")
    translated, _ = read_all_partitions(layout, "translations", list(EMOTIONS))
    dialogues, _ = read_all_partitions(
        layout, EXAMPLES_TABLE, source_partitions.get_partition_keys()
    )
    # a source with no conversations has an empty table: name only those with examples
    dialogue_sources = [] if dialogues is None else dialogues["source"].unique(maintain_order=True)
    base = base_model_location(layout, preset)
    if preset.is_local_tiny:
        # built once from the corpus, then reused so every adapter keeps the same base
        ensure_tiny_base(base, _tokenizer_corpus(layout, pairs))
    tokenizer = load_tokenizer(preset, base, config.conversation_format)
    dataset, stats = build_examples(
        pairs,
        translated,
        tokenizer,
        preset,
        seed=config.seed,
        conversation_examples=[] if dialogues is None else examples_from_frame(dialogues),
        kind_caps=config.kind_caps,
        conversation_format=config.conversation_format,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
    )
    new_tokens = added_tokens(tokenizer, preset, base)
    stats["tokenizer"] = {
        "dir": TOKENIZER_DIR,
        "size": len(tokenizer),
        "added_tokens": new_tokens,
    }
    target = save_dataset(
        dataset, stats, layout.artifact("tokenized_dataset", preset.name), tokenizer
    )

    # Verify the loss mask on what was written, not on what we meant to write.
    unmasked_mismatch = no_answer = 0
    for split in dataset.values():
        for labels, n_answer in zip(split["labels"], split["n_answer_tokens"]):
            unmasked = sum(label != -100 for label in labels)
            no_answer += unmasked == 0
            unmasked_mismatch += unmasked != n_answer
    train_stats = stats["per_split"].get("train", {})
    return dg.MaterializeResult(
        metadata={
            "base_model": base,
            "emotions": ", ".join(emotions),
            **{f"examples_{split}": n for split, n in stats["examples_per_split"].items()},
            "emotions_per_split": _emotions_per_split(stats),
            **scalar_stats(stats),
            **scalar_stats(stats["token_lengths"], prefix="tokens_"),
            **scalar_stats(
                {k: v for k, v in stats["filtered"].items() if isinstance(v, int)},
                prefix="filtered_",
            ),
            "train_per_emotion": distribution(train_stats.get("emotion", {}), label="emotion"),
            "train_per_kind": distribution(train_stats.get("kind", {}), label="kind"),
            "conversation_sources": ", ".join(dialogue_sources) or "none",
            "tokenizer_size": len(tokenizer),
            "added_tokens": ", ".join(new_tokens) or "none",
            "mixture": _mixture_table(stats["mixture"]),
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="answer_only_loss",
                passed=no_answer == 0 and unmasked_mismatch == 0,
                metadata={
                    "examples_without_answer_tokens": no_answer,
                    "mask_mismatches": unmasked_mismatch,
                },
            )
        ],
    )


@dg.asset(
    partitions_def=model_partitions,
    deps=[tokenized_dataset],
    group_name="training",
    kinds={"pytorch", "gpu"},
    pool="gpu",
    op_tags={
        "dagster-k8s/config": GPU_K8S_CONFIG,
        "dagster-celery/queue": "gpu",
        "darija/accelerator": "cuda",
    },
)
def lora_adapter(
    context: dg.AssetExecutionContext, config: TrainConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """A LoRA adapter (QLoRA on CUDA), resumable from its last checkpoint, trained on the
    train split and evaluated on (a capped sample of) the validation split; the test split
    is never used.

    Every preset except ``tiny`` needs a GPU worker (CUDA, the ``gpu`` pool): on a machine
    without one its partition fails in preflight, before a model loads. `make demo`
    trains ``tiny`` only; "Materialize all" would start the GPU presets too."""
    from darija_assets.training.preflight import preflight
    from darija_assets.training.trainer import train_adapter

    preset = _with_overrides(PRESETS[context.partition_key], config)
    layout = storage.layout()
    base = base_model_location(layout, preset)
    if preset.is_local_tiny and not Path(base).is_dir():
        # never rebuilt here: the dataset was tokenized with this base's tokenizer
        raise dg.Failure(
            description=f"no tiny base model at {base}: materialize tokenized_dataset[tiny] first"
        )
    # fails fast, before anything heavy loads, without CUDA or model access
    device = preflight(preset, base)
    dataset_dir = layout.artifact("tokenized_dataset", preset.name)
    output_dir = layout.artifact("lora_adapter", preset.name)
    result = train_adapter(
        preset,
        dataset_dir,
        base,
        output_dir,
        layout.work("lora_adapter", preset.name),
        max_steps=config.max_steps or None,
        seed=config.seed,
        lineage={"dataset": str(dataset_dir), "dagster_run_id": context.run.run_id},
        log=context.log.info,
    )
    curve = result.loss_curve()
    return dg.MaterializeResult(
        metadata={
            "base_model": str(base),
            "device": device,
            "global_step": result.global_step,
            "added_tokens": ", ".join(result.added_tokens) or "none",
            "resumed_from_step": result.resumed_from_step or 0,
            "step_budget": _step_budget(preset, config),
            "train_examples": result.train_examples,
            "eval_examples": result.eval_examples,
            "validation_examples": result.validation_examples,
            **scalar_stats(result.metrics),
            # a step logs train loss, eval loss or both: null marks the one it did not log
            # (NaN is not JSON, and the UI could not parse such a row)
            "loss_curve": dg.MetadataValue.table(
                records=[dg.TableRecord({k: row[k] for k in LOSS_COLUMNS}) for row in curve],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn(k, "int" if k == "step" else "float") for k in LOSS_COLUMNS
                    ]
                ),
            ),
            "loss_chart": chart(loss_curves(curve), "train and eval loss per step"),
            "model_card": dg.MetadataValue.md(
                (output_dir / "README.md").read_text(encoding="utf-8")
            ),
            "path": dg.MetadataValue.path(str(output_dir)),
        },
    )
