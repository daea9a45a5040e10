"""Which labelled sentences become therapy pairs, in which style, under which id.

The original notebook shuffled its labelled sentences once and filled each emotion
up to a quota (TARGET_LIMITS). Here the "shuffle" is an order by a keyed hash of
(seed, sentence_id): it does not depend on the order rows arrive in, and the first N
rows of the order never change when the quota grows, so raising a quota selects the
old rows plus new ones (the old pairs then come straight from the answer cache).

Style and pair id are pure functions of the sentence id too, so the same sentence
always gets the same style and the same pair id, in every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import polars as pl

#: pairs per emotion, as the original project's TARGET_LIMITS (negative emotions need the most help)
TARGET_LIMITS: dict[str, int] = {
    "Sadness": 5000,
    "Fear": 5000,
    "Anger": 5000,
    "Love": 500,
    "Surprise": 500,
    "Joy": 500,
    "Neutral": 0,
}

#: the therapist's three answer styles (see llm/tasks/pairs.py for what each means)
STYLES: tuple[str, ...] = ("question", "advice", "insight")

DEFAULT_SEED = 42

SELECTED_COLUMNS = ("pair_id", "sentence_id", "sentence", "url", "source", "emotion", "style")


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def shuffle_rank(seed: int | str, sentence_id: str) -> str:
    """The sort key of the deterministic shuffle: a keyed hash, independent of row order."""
    return _digest("rank", seed, sentence_id)


def style_for(sentence_id: str, seed: int | str = DEFAULT_SEED) -> str:
    """The answer style of one sentence, spread evenly over STYLES by a hash."""
    return STYLES[int(_digest("style", seed, sentence_id), 16) % len(STYLES)]


def pair_id_for(sentence_id: str, emotion: str, style: str) -> str:
    """A pair's stable id: the same sentence, emotion and style always give the same id."""
    return _digest("pair", sentence_id, emotion, style)[:16]


def resolve_quota(emotion: str, quotas: Mapping[str, int] | None = None) -> int:
    """The quota of ``emotion``: an override from ``quotas``, else TARGET_LIMITS."""
    merged = {**TARGET_LIMITS, **(quotas or {})}
    if emotion not in merged:
        raise ValueError(
            f"no quota for emotion {emotion!r}: add it to the quotas config "
            f"(known: {', '.join(sorted(merged))})"
        )
    quota = merged[emotion]
    if not isinstance(quota, int) or quota < 0:
        raise ValueError(f"quota for {emotion!r} must be a non-negative integer, got {quota!r}")
    return quota


def select_for_emotion(
    labels_df: pl.DataFrame,
    emotion: str,
    quota: int | None = None,
    seed: int | str = DEFAULT_SEED,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Pick up to ``quota`` sentences labelled ``emotion`` from teacher_labels of all sources.

    ``labels_df`` holds teacher_labels rows (at least sentence_id, sentence, url, source,
    label). Labels match case-insensitively (the Gemini pass of the original project
    wrote JOY, SADNESS...). A sentence seen in several sources counts once, kept from the
    first source and url in sort order. ``quota=None`` takes TARGET_LIMITS.

    Returns the selection (columns SELECTED_COLUMNS, in shuffle order) and stats:
    emotion, available, quota, selected, shortfall, duplicate_sentences,
    empty_sentences, style_question, style_advice, style_insight.
    """
    if quota is None:
        quota = resolve_quota(emotion)
    if quota < 0:
        raise ValueError(f"quota must be >= 0, got {quota}")
    missing = {"sentence_id", "sentence", "url", "source", "label"} - set(labels_df.columns)
    if missing:
        raise ValueError(f"teacher_labels rows lack columns: {', '.join(sorted(missing))}")

    labels_df = labels_df.with_columns(pl.col("label", "sentence", "sentence_id").cast(pl.String))
    matching = labels_df.filter(pl.col("label").str.to_lowercase() == emotion.lower())
    # An empty sentence has nothing for a therapist to answer; counted, not silently lost.
    empty = matching.filter(
        pl.col("sentence").is_null() | (pl.col("sentence").str.strip_chars() == "")
    )
    matching = matching.filter(
        pl.col("sentence").is_not_null() & (pl.col("sentence").str.strip_chars() != "")
    )
    unique = matching.sort("sentence_id", "source", "url").unique("sentence_id", keep="first")

    ranks = [shuffle_rank(seed, sid) for sid in unique["sentence_id"]]
    chosen = (
        unique.with_columns(pl.Series("_rank", ranks, dtype=pl.String)).sort("_rank").head(quota)
    )
    ids = chosen["sentence_id"].to_list()
    styles = [style_for(sid, seed) for sid in ids]
    pair_ids = [pair_id_for(sid, emotion, style) for sid, style in zip(ids, styles, strict=True)]
    selected = chosen.with_columns(
        pl.lit(emotion).alias("emotion"),
        pl.Series("style", styles, dtype=pl.String),
        pl.Series("pair_id", pair_ids, dtype=pl.String),
    ).select(SELECTED_COLUMNS)

    stats: dict[str, Any] = {
        "emotion": emotion,
        "available": unique.height,
        "quota": quota,
        "selected": selected.height,
        "shortfall": max(quota - unique.height, 0),
        "duplicate_sentences": matching.height - unique.height,
        "empty_sentences": empty.height,
    }
    for style in STYLES:
        stats[f"style_{style}"] = styles.count(style)
    return selected, stats
