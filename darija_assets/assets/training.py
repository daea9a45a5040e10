"""tokenized_dataset[model] -> lora_adapter[model]: the training half of the graph.

The tokenized dataset belongs to the base model (its tokenizer and chat template),
so both assets are partitioned by model preset. lora_adapter is the GPU step: it
sits in the `gpu` pool and carries the tags that route it to GPU workers on the k8s
and Celery executors. The `tiny` preset trains on CPU.
"""

import json

import dagster as dg
import polars as pl

from darija_assets.assets.metadata import distribution, scalar_stats
from darija_assets.assets.therapy import read_all_partitions, therapy_pairs
from darija_assets.assets.translations import translations
from darija_assets.partitions import EMOTIONS, model_partitions, source_partitions
from darija_assets.resources import StorageResource

#: read by dagster-k8s's k8s_job_executor / run launcher from the step's tags
GPU_K8S_CONFIG = {
    "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    "pod_spec_config": {"node_selector": {"nvidia.com/gpu.present": "true"}},
}


class TokenizeConfig(dg.Config):
    seed: int = 42


class TrainConfig(dg.Config):
    #: 0 trains for the preset's epochs; a positive number caps optimizer steps
    max_steps: int = 0
    seed: int = 42


def _base_model(layout, preset, context) -> str:
    """The base model a preset trains on: a local build for `tiny`, a Hub id otherwise."""
    if not preset.is_local_tiny:
        return preset.model_id
    from darija_assets.training.tiny import ensure_tiny_base

    sentences, _ = read_all_partitions(layout, "sentences", source_partitions.get_partition_keys())
    pairs, _ = read_all_partitions(layout, "therapy_pairs", list(EMOTIONS))
    texts = []
    if sentences is not None:
        texts += sentences["sentence"].to_list()
    if pairs is not None:
        texts += pairs["input"].to_list() + pairs["output"].to_list()
    base_dir = ensure_tiny_base(layout.artifact("base_model", preset.name), texts)
    context.log.info("tiny base model at %s", base_dir)
    return str(base_dir)


@dg.asset(
    partitions_def=model_partitions,
    deps=[
        dg.AssetDep(therapy_pairs, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(translations, partition_mapping=dg.AllPartitionMapping()),
    ],
    group_name="training",
    kinds={"huggingface"},
    check_specs=[
        dg.AssetCheckSpec(
            "answer_only_loss",
            asset="tokenized_dataset",
            description="Every example trains on some answer tokens and on nothing but answer tokens.",
            blocking=True,
        )
    ],
)
def tokenized_dataset(
    context: dg.AssetExecutionContext, config: TokenizeConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """Chat-formatted examples with answer-only labels, split 90/10, in HF datasets format."""
    from darija_assets.training.dataset import build_and_save
    from darija_assets.training.presets import PRESETS

    preset = PRESETS[context.partition_key]
    layout = storage.layout()
    pairs, emotions = read_all_partitions(layout, "therapy_pairs", list(EMOTIONS))
    if pairs is None or pairs.height == 0:
        raise dg.Failure(description="no therapy pairs yet: materialize therapy_job first")
    translated, _ = read_all_partitions(layout, "translations", list(EMOTIONS))
    base = _base_model(layout, preset, context)
    target = layout.artifact("tokenized_dataset", preset.name)
    stats = build_and_save(
        pairs.to_dicts(),
        translated.to_dicts() if translated is not None else [],
        base_model=base,
        preset=preset,
        target=target,
        seed=config.seed,
    )
    return dg.MaterializeResult(
        metadata={
            "base_model": base,
            "emotions": ", ".join(emotions),
            **scalar_stats(stats),
            "examples_per_emotion": distribution(stats.get("per_emotion", {}), label="emotion"),
            "examples_per_kind": distribution(stats.get("per_kind", {}), label="kind"),
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="answer_only_loss",
                passed=stats["examples_without_answer_tokens"] == 0
                and stats["prompt_tokens_in_loss"] == 0,
                metadata={
                    "examples_without_answer_tokens": stats["examples_without_answer_tokens"],
                    "prompt_tokens_in_loss": stats["prompt_tokens_in_loss"],
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
    """A LoRA adapter (QLoRA on CUDA), resumable from its last checkpoint."""
    from darija_assets.training.presets import PRESETS
    from darija_assets.training.trainer import check_hardware, train_adapter

    preset = PRESETS[context.partition_key]
    check_hardware(preset)  # fail fast, before anything heavy loads, when CUDA is needed but absent
    layout = storage.layout()
    dataset_dir = layout.artifact("tokenized_dataset", preset.name)
    base = _base_model(layout, preset, context)
    output_dir = layout.artifact("lora_adapter", preset.name)
    result = train_adapter(
        preset,
        dataset_dir,
        base,
        output_dir,
        layout.work("lora_adapter", preset.name),
        max_steps=config.max_steps or None,
        seed=config.seed,
        lineage={"dataset": str(dataset_dir), "run_id": context.run.run_id},
        log=context.log.info,
    )
    history = pl.DataFrame(result.loss_history)
    return dg.MaterializeResult(
        metadata={
            "base_model": base,
            **scalar_stats(result.metrics),
            "resumed_from_step": result.resumed_from_step or 0,
            "loss_curve": dg.MetadataValue.table(
                records=[dg.TableRecord(row) for row in history.to_dicts()],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn(name, str(dtype).lower())
                        for name, dtype in history.schema.items()
                    ]
                ),
            )
            if history.height
            else "no steps logged",
            "model_card": dg.MetadataValue.md(
                (output_dir / "README.md").read_text(encoding="utf-8")
            ),
            "adapter_config": dg.MetadataValue.json(
                json.loads((output_dir / "adapter_config.json").read_text(encoding="utf-8"))
            ),
            "path": dg.MetadataValue.path(str(output_dir)),
        },
    )
