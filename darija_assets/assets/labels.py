"""teacher_labels[source]: an emotion label for every sentence, from an LLM teacher."""

from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from darija_assets import checks
from darija_assets.assets.corpus import sentences
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
from darija_assets.charts import bar_chart
from darija_assets.partitions import EMOTIONS, source_partitions
from darija_assets.resources import LLMResource, StorageResource
from darija_assets.schedules import FOLLOW_UPSTREAM
from darija_assets.sources import get_source
from darija_assets.storage import write_parquet

#: runner columns kept in every label row, beside backend and model
LABEL_PROVENANCE = {"prompt_version": pl.String, "latency_s": pl.Float64, "raw_answer": pl.String}
#: a quarantined sentence: where it came from, who judged it, and why it was refused
QUARANTINE_SCHEMA = dict.fromkeys(
    ("sentence_id", "sentence", "url", "source", "backend", "model", "reason", "raw", "stage"),
    pl.String,
)


class LabelConfig(dg.Config):
    #: the original project's Gemini pass used JOY SADNESS ANGER FEAR DISGUST SURPRISE NEUTRAL
    labels: list[str] = list(EMOTIONS)
    batch_size: int = 40
    #: distillation (issue 12): an emotion_classifier kind (linear, encoder) or a saved student
    #: directory that labels what the teacher need not; "" (default): the teacher labels all
    student: str = ""
    #: sentences the teacher labels anyway, a seeded sample: a count (>= 1) or a share (< 1)
    teacher_budget: float = 0.0
    #: and every sentence the student is less sure of than this (0..1)
    student_threshold: float = 0.0
    seed: int = 42


@dg.asset(
    partitions_def=source_partitions,
    deps=[sentences],
    group_name="labels",
    automation_condition=FOLLOW_UPSTREAM,
    kinds={"llm", "polars"},
    pool="llm",
    check_specs=checks.partitioned(
        source_partitions,
        [
            checks.spec(
                "teacher_labels",
                "labels_in_label_set",
                "Every label is in the label set.",
                blocking=True,
            ),
            checks.spec(
                "teacher_labels",
                "quarantine_ratio",
                f"At most {checks.MAX_QUARANTINE_RATIO:.0%} of sentences were quarantined.",
            ),
            checks.spec(
                "teacher_labels",
                "complete",
                "Every sentence was answered (warns when a quota or the wait budget stopped the run).",
            ),
        ],
    ),
)
def teacher_labels(
    context: dg.AssetExecutionContext,
    config: LabelConfig,
    storage: StorageResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """One emotion label per sentence, batched, rate-limited, cached and resumable.

    When a daily quota (or the 429 wait budget) ends the run early, the sentences
    answered so far are written, the metadata says how far it got and when the quota
    resets, and the next run asks only the rest. A teacher that produced nothing usable
    fails the step with the reasons."""
    from darija_assets.classifier.distill import CONFIDENCE_COLUMN, plan_for_teacher_labels
    from darija_assets.llm.base import WorkItem
    from darija_assets.llm.frames import accepted_frame, quarantine_frame
    from darija_assets.llm.runner import run_task
    from darija_assets.llm.tasks.labels import LabelTask
    from darija_assets.text.records import imported_rows, label_rows

    layout = storage.layout()
    frame = pl.read_parquet(layout.table("sentences", context.partition_key))
    task = LabelTask(labels=config.labels, batch_size=config.batch_size)
    # Labels a file source brought (records "labels", or the emotion of instruction and
    # parallel records): never sent to a teacher; quarantined when outside the label set.
    source = get_source(context.partition_key)
    imported, imported_quarantine = label_rows(
        frame,
        imported_rows(source, layout),
        config.labels,
        source.extra.get("default_emotion"),
    )
    settled = set(imported["sentence_id"]) | set(imported_quarantine["sentence_id"])
    items = [
        WorkItem(key=sid, text=text)
        for sid, text in frame.select("sentence_id", "sentence").iter_rows()
        if sid not in settled
    ]
    choice = choose_teachers(llm, context.log)
    context.log.info("labelling %d sentences", len(items))
    plan = plan_for_teacher_labels(
        items,
        choice.teachers,
        layout,
        student=config.student,
        label_set=config.labels,
        budget=config.teacher_budget,
        threshold=config.student_threshold,
        seed=config.seed,
    )
    with llm.open_cache(layout) as cache:
        result = run_task(
            task,
            plan.for_teacher if plan else items,
            as_runner_backend(choice),
            cache,
            ledger=llm.open_ledger(layout),
            **llm.runner_options(context.log.info),
        )
    if plan:  # the student's labels for the sentences the teacher was not asked
        result = plan.merge(result, task.batch_size)
    log_partial(context.log, "teacher_labels", result.stats)

    sentence_info = frame.select("sentence_id", "sentence", "url", "source")
    provenance = {**LABEL_PROVENANCE, CONFIDENCE_COLUMN: pl.Float64} if plan else LABEL_PROVENANCE
    answers = accepted_frame(result, ("label",), key="sentence_id", extra=provenance)
    taught = answers.height
    answers = pl.concat([answers, imported], how="diagonal_relaxed")
    labelled = sentence_info.join(answers, on="sentence_id", maintain_order="left").with_columns(
        pl.lit(datetime.now(timezone.utc).isoformat(timespec="seconds")).alias("labelled_at")
    )
    table = write_parquet(labelled, layout.table("teacher_labels", context.partition_key))
    quarantined = quarantine_frame(
        result, sentence_info, "teacher_labels", QUARANTINE_SCHEMA, key="sentence_id"
    )
    taught_reasons = quarantined["reason"].to_list()
    quarantined = pl.concat([quarantined, imported_quarantine], how="diagonal_relaxed")
    n_quarantined = write_quarantine(layout, "teacher_labels", context.partition_key, quarantined)
    fail_if_unusable("teacher_labels", taught, taught_reasons, llm.max_quarantine_ratio)

    # of every sentence: imported labels refused for being outside the set count too
    quarantine_ratio = n_quarantined / frame.height if frame.height else 0.0
    label_counts = Counter(labelled["label"].to_list())
    return dg.MaterializeResult(
        metadata={
            "quarantined": n_quarantined,
            **teacher_metadata(choice, result.stats),
            "counts": stats_block(
                {
                    "sentences": frame.height,
                    "labelled": labelled.height,
                    "imported_labels": imported.height,
                    "imported_labels_quarantined": imported_quarantine.height,
                    "quarantined": n_quarantined,
                    "backends": ", ".join(sorted(set(labelled["backend"].to_list()))) or "none",
                }
            ),
            "label_distribution": chart(
                bar_chart(
                    {k: label_counts.get(k, 0) for k in config.labels},
                    title=f"Labels of {context.partition_key}",
                    ylabel="sentences",
                ),
                "labels per emotion",
            ),
            "preview": preview(labelled, ["sentence", "label", "backend"]),
            **table_metadata(labelled, table),
        },
        check_results=[
            checks.all_in(
                "teacher_labels", "labels_in_label_set", labelled["label"].to_list(), config.labels
            ),
            checks.at_most(
                "teacher_labels",
                "quarantine_ratio",
                quarantine_ratio,
                checks.MAX_QUARANTINE_RATIO,
                severity=dg.AssetCheckSeverity.WARN,
            ),
            dg.AssetCheckResult(
                check_name="complete",
                passed=result.complete,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "pending": len(result.pending),
                    "quota_resets_at": result.stats.get("quota_resets_at", ""),
                },
            ),
        ],
    )
