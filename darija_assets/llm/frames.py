"""Runner results as polars frames keyed by an item id column, shared by the LLM steps."""

from __future__ import annotations

import polars as pl

from darija_assets.llm.runner import TaskResult

_PROVENANCE = {"backend": pl.String, "model": pl.String}


def accepted_frame(
    result: TaskResult,
    value_columns: tuple[str, ...],
    key: str = "pair_id",
    *,
    extra: dict | None = None,
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


def quarantine_frame(
    result: TaskResult,
    id_frame: pl.DataFrame,
    stage: str,
    schema: dict,
    key: str = "pair_id",
) -> pl.DataFrame:
    """The quarantined items of ``result`` joined onto ``id_frame`` (kept in its order),
    with a ``stage`` column, as exactly the columns and dtypes of ``schema``."""
    return (
        id_frame.join(rejected_frame(result, key), on=key, how="inner", maintain_order="left")
        .with_columns(pl.lit(stage).alias("stage"))
        .select(list(schema))
        .cast(schema)
    )
