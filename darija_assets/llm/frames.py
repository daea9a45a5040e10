"""Runner results as polars frames keyed by an item id column, shared by the LLM steps."""

from __future__ import annotations

import polars as pl

from darija_assets.llm.runner import TaskResult

_PROVENANCE = {"backend": pl.String, "model": pl.String}


def accepted_frame(
    result: TaskResult, value_columns: tuple[str, ...], key: str = "pair_id", *, extra: dict | None = None
) -> pl.DataFrame:
    """``key``, the task's value columns, backend, model (and ``extra`` runner columns with
    their dtypes, e.g. prompt_version, latency_s, raw_answer): one row per accepted item."""
    extra = extra or {}
    schema = {key: pl.String, **{c: pl.String for c in value_columns}, **_PROVENANCE, **extra}
    return pl.DataFrame(
        [{key: r["key"], **{c: r.get(c) for c in schema if c != key}} for r in result.rows],
        schema=schema,
    )


def rejected_frame(result: TaskResult, key: str = "pair_id") -> pl.DataFrame:
    """``key``, backend, model, reason, raw: one row per quarantined item."""
    schema = {key: pl.String, **_PROVENANCE, "reason": pl.String, "raw": pl.String}
    return pl.DataFrame(
        [{key: q["key"], **{c: q.get(c) for c in schema if c != key}} for q in result.quarantined],
        schema=schema,
    )
