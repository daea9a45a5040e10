"""translations[emotion]: English translations of each therapy pair, or an honest skip."""

import dagster as dg
import polars as pl

from darija_assets import checks
from darija_assets.assets.metadata import preview, stats_block, table_metadata, write_quarantine
from darija_assets.assets.teaching import (
    as_runner_backend,
    choose_teachers,
    fail_if_unusable,
    log_partial,
    teacher_metadata,
)
from darija_assets.assets.therapy import therapy_pairs
from darija_assets.partitions import emotion_partitions
from darija_assets.resources import LLMResource, StorageResource
from darija_assets.storage import write_parquet

#: translate_pairs' own stats, shown in the "counts" block (the rest are the runner's)
TRANSLATION_COUNTS = ("translated", "imported_parallel", "skipped")


class TranslationConfig(dg.Config):
    batch_size: int = 10


@dg.asset(
    partitions_def=emotion_partitions,
    deps=[therapy_pairs],
    group_name="therapy",
    kinds={"llm", "polars"},
    pool="llm",
    check_specs=checks.partitioned(
        emotion_partitions,
        [
            dg.AssetCheckSpec(
                "translated",
                asset="translations",
                description="A translator was available and translated the pairs (warns when skipped).",
            )
        ],
    ),
)
def translations(
    context: dg.AssetExecutionContext,
    config: TranslationConfig,
    storage: StorageResource,
    translator: LLMResource,
) -> dg.MaterializeResult:
    """Darija -> English translations of each pair's input and output (Groq by default)."""
    from darija_assets.assets.therapy import read_all_partitions
    from darija_assets.llm.tasks.translate import TranslationTask
    from darija_assets.partitions import source_partitions
    from darija_assets.text.records import PARALLEL, imported_of_kind
    from darija_assets.therapy.translations import translate_pairs

    emotion = context.partition_key
    layout = storage.layout()
    pairs = pl.read_parquet(layout.table("therapy_pairs", emotion))
    # Parallel text of file sources joins its emotion's partition as it is, never re-asked.
    labels, _ = read_all_partitions(
        layout, "teacher_labels", source_partitions.get_partition_keys()
    )
    _, parallel, unplaced = imported_of_kind(PARALLEL, layout, labels)
    for reason, n in unplaced.items():
        context.log.warning("%d imported parallel records are in no partition: %s", n, reason)
    # No translator is an honest skip only when the config left the choice to ``auto``;
    # a named translator that cannot run is an error (see choose_teachers).
    choice = choose_teachers(translator, context.log)
    with translator.open_cache(layout) as cache:
        result = translate_pairs(
            pairs,
            as_runner_backend(choice),
            cache,
            task=TranslationTask(batch_size=config.batch_size),
            parallel=parallel.filter(pl.col("emotion") == emotion),
            ledger=translator.open_ledger(layout),
            **translator.runner_options(context.log.info),
        )
    log_partial(context.log, "translations", result.stats)
    table = write_parquet(result.translations, layout.table("translations", emotion))
    n_quarantined = write_quarantine(layout, "translations", emotion, result.quarantine)
    fail_if_unusable(
        "translations",
        result.stats["translated"],
        result.quarantine["reason"].to_list(),
        translator.max_quarantine_ratio,
    )
    if result.skipped:
        # No honest offline translation exists: an empty table and the reason, never invented text.
        context.log.warning("translations[%s] skipped: %s", emotion, result.skipped)
        return dg.MaterializeResult(
            metadata={
                "status": "skipped",
                "reason": result.skipped,
                "translated": 0,
                "imported_parallel": result.stats.get("imported_parallel", 0),
                "pairs": pairs.height,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="translated",
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"skipped: {result.skipped}",
                )
            ],
        )
    translated = result.translations
    return dg.MaterializeResult(
        metadata={
            "quarantined": n_quarantined,
            **teacher_metadata(choice, result.stats, own=TRANSLATION_COUNTS),
            "counts": stats_block(
                {
                    "pairs": pairs.height,
                    **{k: result.stats.get(k, 0) for k in TRANSLATION_COUNTS},
                    "quarantined": n_quarantined,
                }
            ),
            "preview": preview(translated, ["input_en", "output_en"], n=6),
            **table_metadata(translated, table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="translated",
                passed=result.stats["translated"] == pairs.height,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"translated": result.stats["translated"], "pairs": pairs.height},
            )
        ],
    )
