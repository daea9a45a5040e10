"""therapy_pairs[emotion]: select sentences, have the therapist answer, build the table.

The body of the Dagster asset, minus Dagster: the asset hands in teacher_labels of
all sources, a backend and the shared answer cache, and writes what comes back.
Resumability comes from the cache: every answered batch is committed there before
it counts as done, so a rerun after ``kill -9`` (or after raising the quota) asks
only what was never answered.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from darija_assets.llm.base import Backend
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.frames import accepted_frame, quarantine_frame
from darija_assets.llm.runner import run_task
from darija_assets.llm.tasks.pairs import DEFAULT_INSTRUCTION, TherapyPairTask
from darija_assets.therapy.selection import DEFAULT_SEED, resolve_quota, select_for_emotion

PAIRS_SCHEMA = {
    "pair_id": pl.String,
    "instruction": pl.String,
    "input": pl.String,
    "output": pl.String,
    "emotion": pl.String,
    "style": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "sentence_id": pl.String,
    "url": pl.String,
    "source": pl.String,
}
QUARANTINE_SCHEMA = {
    "pair_id": pl.String,
    "sentence_id": pl.String,
    "url": pl.String,
    "source": pl.String,
    "emotion": pl.String,
    "style": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "reason": pl.String,
    "raw": pl.String,
    "stage": pl.String,
}
STAGE = "therapy_pairs"


@dataclass
class PairsResult:
    #: therapy_pairs rows (PAIRS_SCHEMA), in selection order
    pairs: pl.DataFrame
    #: rejected answers (QUARANTINE_SCHEMA) with the reason, after the runner's retries
    quarantine: pl.DataFrame
    #: selection stats plus the runner's, plus ``pairs`` (rows written)
    stats: dict[str, Any]


def generate_pairs(
    labels_df: pl.DataFrame,
    emotion: str,
    backend: Backend,
    cache: AnswerCache | None,
    *,
    quota: int | None = None,
    quotas: Mapping[str, int] | None = None,
    seed: int | str = DEFAULT_SEED,
    instruction: str = DEFAULT_INSTRUCTION,
    task: TherapyPairTask | None = None,
    imported: pl.DataFrame | None = None,
    exclude_urls: Collection[str] = (),
    **runner_options: Any,
) -> PairsResult:
    """Build the therapy_pairs partition of ``emotion``.

    ``quota`` wins over ``quotas`` (a per-emotion override map), which wins over
    TARGET_LIMITS. ``seed`` drives the selection and the styles. A ``task`` (for
    another batch size or other acceptance rules) brings its own instruction and
    takes precedence over ``instruction``. ``runner_options`` go to ``run_task``
    (concurrency, limiter, max_retries, log, on_batch_done, backoff_s, ...). An ``IncompleteRun`` from the runner
    propagates: what was answered is cached, and running again continues.

    ``imported``: instruction records of file sources with their ``emotion``
    (text/records.py ``place_by_emotion``). Those of ``emotion`` come first, as written
    (backend and style "imported", the file as model, url = file and line), all of them whatever the
    quota; only the quota's remainder is generated. ``exclude_urls``: the urls of every
    imported instruction record, whose sentences are never selected for generation.

    Stats keys: emotion, available, quota, imported_pairs, generation_quota (the quota
    less the imported pairs), selected, shortfall (of the generation quota),
    duplicate_sentences, empty_sentences, style_question, style_advice, style_insight,
    pairs (imported and generated), and the
    runner's (items, cache_hits, requests_sent, retries, rate_limited,
    transient_errors, accepted, quarantined, input_tokens, output_tokens,
    limiter_wait_s, elapsed_s, backend, model, duplicate_keys).
    """
    if quota is None:
        quota = resolve_quota(emotion, quotas)
    task = task or TherapyPairTask(instruction)
    own = _imported_pairs(imported, emotion, task.instruction)
    if exclude_urls:
        labels_df = labels_df.filter(~pl.col("url").is_in(list(exclude_urls)))
    remaining = max(quota - own.height, 0)
    selected, selection_stats = select_for_emotion(labels_df, emotion, remaining, seed)
    items = [
        task.work_item(row["pair_id"], row["sentence"], row["emotion"], row["style"])
        for row in selected.iter_rows(named=True)
    ]
    result = run_task(task, items, backend, cache, **runner_options)

    answers = accepted_frame(result, ("output",))
    pairs = (
        selected.join(answers, on="pair_id", how="inner", maintain_order="left")
        .with_columns(
            pl.lit(task.instruction).alias("instruction"), pl.col("sentence").alias("input")
        )
        .select(list(PAIRS_SCHEMA))
        .cast(PAIRS_SCHEMA)
    )
    quarantine = quarantine_frame(result, selected, STAGE, QUARANTINE_SCHEMA)
    pairs = pl.concat([own, pairs])
    stats = {
        **selection_stats,
        **result.stats,
        "quota": quota,
        "imported_pairs": own.height,
        "generation_quota": remaining,
        "pairs": pairs.height,
    }
    return PairsResult(pairs=pairs, quarantine=quarantine, stats=stats)


def _imported_pairs(
    imported: pl.DataFrame | None, emotion: str, default_instruction: str
) -> pl.DataFrame:
    """therapy_pairs rows of the imported instruction records of ``emotion``, answers as
    written; a record without an instruction gets ``default_instruction``."""
    if imported is None or imported.height == 0:
        return pl.DataFrame(schema=PAIRS_SCHEMA)
    from darija_assets.text.records import IMPORTED_BACKEND, record_id

    own = imported.filter(pl.col("emotion") == emotion)
    ids = [record_id(row) for row in own.iter_rows(named=True)]
    return (
        own.with_columns(
            pl.Series("pair_id", ids, dtype=pl.String),
            pl.col("instruction").fill_null(default_instruction),
            pl.lit(IMPORTED_BACKEND).alias("style"),  # the answer is as the file wrote it
            pl.lit(IMPORTED_BACKEND).alias("backend"),
            pl.col("file").alias("model"),
            pl.lit(None, pl.String).alias("sentence_id"),
        )
        .select(list(PAIRS_SCHEMA))
        .cast(PAIRS_SCHEMA)
    )
