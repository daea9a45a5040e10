"""therapy_pairs[emotion]: balanced patient-therapist pairs drawn from every source's labels."""

import dagster as dg
import polars as pl

from darija_assets import checks
from darija_assets.assets.labels import teacher_labels
from darija_assets.assets.metadata import (
    chart,
    preview,
    stats_block,
    table_metadata,
    write_quarantine,
)
from darija_assets.assets.teaching import (
    as_runner_backend,
    choose_teachers,
    fail_if_unusable,
    log_partial,
    teacher_metadata,
)
from darija_assets.charts import bars_against_quota
from darija_assets.llm.tasks.pairs import DEFAULT_INSTRUCTION
from darija_assets.partitions import emotion_partitions, source_partitions
from darija_assets.resources import LLMResource, StorageResource
from darija_assets.storage import Layout, write_parquet
from darija_assets.therapy.selection import STYLES

#: generate_pairs' own stats (selection and quota), shown in the "counts" block; the
#: rest of its stats are the runner's (see teaching.teacher_metadata)
PAIR_COUNTS = (
    "emotion",
    "quota",
    "imported_pairs",
    "generation_quota",
    "available",
    "selected",
    "shortfall",
    "duplicate_sentences",
    "empty_sentences",
    *(f"style_{s}" for s in STYLES),
    "pairs",
)


class TherapyConfig(dg.Config):
    #: overrides of the original TARGET_LIMITS, e.g. {"Sadness": 200}
    quotas: dict[str, int] = {}
    seed: int = 42
    instruction: str = DEFAULT_INSTRUCTION
    batch_size: int = 10


def read_all_partitions(
    layout: Layout, asset: str, partition_keys: list[str]
) -> tuple[pl.DataFrame | None, list[str]]:
    """Concatenate the materialized partitions of ``asset``; also say which ones exist."""
    present = [key for key in partition_keys if layout.table(asset, key).exists()]
    if not present:
        return None, []
    frames = [pl.read_parquet(layout.table(asset, key)) for key in present]
    return pl.concat(frames, how="diagonal_relaxed"), present


def all_teacher_labels(layout: Layout) -> tuple[pl.DataFrame, list[str]]:
    """teacher_labels of every materialized source partition, and those sources; raises
    ``dg.Failure`` when no source has labels yet."""
    labels, sources = read_all_partitions(
        layout, "teacher_labels", source_partitions.get_partition_keys()
    )
    if labels is None:
        raise dg.Failure(
            description="no teacher_labels partition is materialized yet",
            metadata={"hint": "materialize corpus_job for at least one source first"},
        )
    return labels, sources


def pairs_per_emotion(
    layout: Layout, quotas: dict[str, int]
) -> tuple[dict[str, int | None], dict[str, int]]:
    """Pairs written in each emotion partition (None where it was never materialized) and
    each emotion's quota, in the partitions' order: one partition alone misleads (Neutral's
    quota is 0, so its empty table is correct)."""
    from darija_assets.therapy.selection import resolve_quota

    made: dict[str, int | None] = {}
    for emotion in emotion_partitions.get_partition_keys():
        path = layout.table("therapy_pairs", emotion)
        made[emotion] = (
            pl.scan_parquet(path).select(pl.len()).collect().item() if path.exists() else None
        )
    return made, {e: resolve_quota(e, quotas) for e in made}


@dg.asset(
    partitions_def=emotion_partitions,
    deps=[dg.AssetDep(teacher_labels, partition_mapping=dg.AllPartitionMapping())],
    group_name="therapy",
    kinds={"llm", "polars"},
    pool="llm",
    check_specs=checks.partitioned(
        emotion_partitions,
        [
            checks.spec("therapy_pairs", "quota_met", "The partition reached its quota of pairs."),
            checks.spec(
                "therapy_pairs",
                "quarantine_ratio",
                f"At most {checks.MAX_QUARANTINE_RATIO:.0%} of answers were quarantined.",
            ),
        ],
    ),
)
def therapy_pairs(
    context: dg.AssetExecutionContext,
    config: TherapyConfig,
    storage: StorageResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """Empathetic Darija answers in three styles, up to the emotion's quota, traced to their page."""
    from darija_assets.llm.tasks.pairs import TherapyPairTask
    from darija_assets.text.records import INSTRUCTIONS, imported_of_kind
    from darija_assets.therapy.export import export_original_jsonl
    from darija_assets.therapy.pairs import generate_pairs

    emotion = context.partition_key
    layout = storage.layout()
    labels, sources = all_teacher_labels(layout)
    # Instruction records of file sources count against the quota before anything is asked.
    every, placed, unplaced = imported_of_kind(INSTRUCTIONS, layout, labels)
    for reason, n in unplaced.items():
        context.log.warning("%d imported instruction records are in no partition: %s", n, reason)
    choice = choose_teachers(llm, context.log)
    context.log.info("therapy_pairs[%s] from sources %s", emotion, sources)
    with llm.open_cache(layout) as cache:
        result = generate_pairs(
            labels,
            emotion,
            as_runner_backend(choice),
            cache,
            quotas=config.quotas,
            seed=config.seed,
            task=TherapyPairTask(config.instruction, batch_size=config.batch_size),
            imported=placed,
            exclude_urls=set(every["url"]),
            ledger=llm.open_ledger(layout),
            **llm.runner_options(context.log.info),
        )
    stats, pairs = result.stats, result.pairs
    log_partial(context.log, "therapy_pairs", stats)
    if stats["shortfall"]:
        context.log.warning(
            "%s: only %d labelled sentences for a quota of %d",
            emotion,
            stats["available"],
            stats["quota"],
        )
    table = write_parquet(pairs, layout.table("therapy_pairs", emotion))
    export = export_original_jsonl(pairs, layout.export(f"psychologist_dataset_{emotion}.jsonl"))
    n_quarantined = write_quarantine(layout, "therapy_pairs", emotion, result.quarantine)
    fail_if_unusable(
        "therapy_pairs",
        pairs.height,
        result.quarantine["reason"].to_list(),
        llm.max_quarantine_ratio,
    )

    made, quotas = pairs_per_emotion(layout, config.quotas)
    return dg.MaterializeResult(
        metadata={
            "quarantined": n_quarantined,
            **teacher_metadata(choice, stats, own=PAIR_COUNTS),
            "counts": stats_block(
                {
                    **{k: stats[k] for k in PAIR_COUNTS if k in stats},
                    "quarantined": n_quarantined,
                    "imported_records_without_partition": sum(unplaced.values()),
                    "sources": ", ".join(sources),
                    "backends": ", ".join(sorted(set(pairs["backend"].to_list()))) or "none",
                }
            ),
            "preview": preview(pairs, ["style", "input", "output"], n=6),
            "all_emotions": chart(
                bars_against_quota(
                    made, quotas, title="Pairs per emotion against quota", ylabel="pairs"
                ),
                "pairs per emotion against quota",
            ),
            "pairs_all_emotions": sum(n or 0 for n in made.values()),
            "export_jsonl": dg.MetadataValue.path(export["path"]),
            **table_metadata(pairs, table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="quota_met",
                passed=pairs.height >= stats["quota"],
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "pairs": pairs.height,
                    "quota": stats["quota"],
                    "available": stats["available"],
                },
            ),
            checks.at_most(
                "therapy_pairs",
                "quarantine_ratio",
                n_quarantined / stats["selected"] if stats["selected"] else 0.0,
                checks.MAX_QUARANTINE_RATIO,
                severity=dg.AssetCheckSeverity.WARN,
            ),
        ],
    )
