"""translations[emotion]: English versions of the therapy pairs, or an honest skip.

Translation has no offline form: with no translator (no key, no local model) the
result says ``skipped`` with the reason and holds zero rows, so the asset can
materialize as skipped and its check can warn. No English is ever made up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from darija_assets.llm.backends import make_backend
from darija_assets.llm.backends.offline import OfflineBackend
from darija_assets.llm.base import Backend, BackendUnavailable
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.frames import accepted_frame, quarantine_frame
from darija_assets.llm.runner import run_task
from darija_assets.llm.tasks.translate import (
    DEFAULT_BACKEND,
    DEFAULT_MODEL,
    FIELDS,
    TranslationTask,
)

TRANSLATIONS_SCHEMA = {
    "pair_id": pl.String,
    "emotion": pl.String,
    "input_en": pl.String,
    "output_en": pl.String,
    "backend": pl.String,
    "model": pl.String,
}
#: imported parallel text (backend "imported") adds the Darija and its file and line
#: (null for translations of pairs); a partition without it keeps TRANSLATIONS_SCHEMA
PARALLEL_SCHEMA = {
    **TRANSLATIONS_SCHEMA,
    "darija": pl.String,
    "url": pl.String,
    "source": pl.String,
}
QUARANTINE_SCHEMA = {
    "pair_id": pl.String,
    "emotion": pl.String,
    "backend": pl.String,
    "model": pl.String,
    "reason": pl.String,
    "raw": pl.String,
    "stage": pl.String,
}
STAGE = "translations"
NO_TRANSLATOR = (
    "no translator available: translation has no honest offline form; set GROQ_API_KEY "
    "(the default translator), GEMINI_API_KEY, or DARIJA_LOCAL_MODEL for a local model"
)


@dataclass
class TranslationResult:
    translations: pl.DataFrame
    quarantine: pl.DataFrame
    stats: dict[str, Any]
    #: the reason the step did nothing, or None when it ran
    skipped: str | None = None


def open_translator(
    name: str = DEFAULT_BACKEND,
    *,
    model: str | None = DEFAULT_MODEL,
    base_url: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Backend | None, str | None]:
    """(backend, None), or (None, why not) when the translator cannot run here.

    ``model`` defaults to the original project's Llama 3.3 70B; pass ``None`` with
    another ``name`` to take that backend's own default model.
    """
    try:
        backend = make_backend(name, model=model, base_url=base_url, api_key=api_key, env=env)
    except BackendUnavailable as exc:
        return None, f"{NO_TRANSLATOR} ({exc})"
    if isinstance(backend, OfflineBackend):
        return None, NO_TRANSLATOR
    return backend, None


def translate_pairs(
    pairs_df: pl.DataFrame,
    backend: Backend | None,
    cache: AnswerCache | None,
    *,
    skip_reason: str | None = None,
    task: TranslationTask | None = None,
    parallel: pl.DataFrame | None = None,
    **runner_options: Any,
) -> TranslationResult:
    """Translate every therapy pair of ``pairs_df`` (therapy_pairs rows).

    ``backend=None`` (or the offline backend) returns a skipped result with
    ``skip_reason`` (default: NO_TRANSLATOR). ``runner_options`` go to ``run_task``.
    ``parallel``: imported parallel records of this partition's emotion (text/records.py
    ``place_by_emotion``), added as they are, skipped or not: ``pair_id`` a stable record
    id, ``darija`` the Darija, ``input_en`` its English, ``output_en`` null, backend
    "imported", the file as model, ``url`` its file and line. Never sent to a translator.

    Stats keys: pairs, translated, imported_parallel (when there is some), skipped (bool),
    skip_reason (when skipped), and
    when it ran the runner's (items, cache_hits, requests_sent, retries,
    rate_limited, transient_errors, accepted, quarantined, input_tokens,
    output_tokens, limiter_wait_s, elapsed_s, backend, model, duplicate_keys).
    """
    task = task or TranslationTask()
    imported = _parallel_rows(parallel)
    if backend is None or isinstance(backend, OfflineBackend):
        return _skipped(pairs_df, skip_reason or NO_TRANSLATOR, imported)
    items = [
        task.work_item(row["pair_id"], row["input"], row["output"])
        for row in pairs_df.select("pair_id", "input", "output").iter_rows(named=True)
    ]
    try:
        result = run_task(task, items, backend, cache, **runner_options)
    except BackendUnavailable as exc:
        return _skipped(pairs_df, f"{NO_TRANSLATOR} ({exc})", imported)

    emotions = pairs_df.select("pair_id", "emotion")
    answers = accepted_frame(result, FIELDS)
    translations = (
        emotions.join(answers, on="pair_id", how="inner", maintain_order="left")
        .select(list(TRANSLATIONS_SCHEMA))
        .cast(TRANSLATIONS_SCHEMA)
    )
    quarantine = quarantine_frame(result, emotions, STAGE, QUARANTINE_SCHEMA)
    stats = {
        **result.stats,
        "pairs": pairs_df.height,
        "translated": translations.height,
        **({"imported_parallel": imported.height} if imported.height else {}),
        "skipped": False,
    }
    if imported.height:
        translations = pl.concat([translations, imported], how="diagonal")
    return TranslationResult(translations=translations, quarantine=quarantine, stats=stats)


def _parallel_rows(parallel: pl.DataFrame | None) -> pl.DataFrame:
    if parallel is None or parallel.height == 0:
        return pl.DataFrame(schema=TRANSLATIONS_SCHEMA)
    from darija_assets.text.records import IMPORTED_BACKEND, record_id

    ids = [record_id(row) for row in parallel.iter_rows(named=True)]
    return parallel.select(
        pl.Series("pair_id", ids, dtype=pl.String),
        "emotion",
        pl.col("english").alias("input_en"),
        pl.lit(None, pl.String).alias("output_en"),
        pl.lit(IMPORTED_BACKEND).alias("backend"),
        pl.col("file").alias("model"),
        "darija",
        "url",
        "source",
    ).cast(PARALLEL_SCHEMA)


def _skipped(pairs_df: pl.DataFrame, reason: str, imported: pl.DataFrame) -> TranslationResult:
    return TranslationResult(
        translations=imported,
        quarantine=pl.DataFrame(schema=QUARANTINE_SCHEMA),
        stats={
            "pairs": pairs_df.height,
            "translated": 0,
            **({"imported_parallel": imported.height} if imported.height else {}),
            "skipped": True,
            "skip_reason": reason,
        },
        skipped=reason,
    )
