"""Which teacher_labels rows a student learns from, and the held-out split.

A student learns what a teacher said. Rows from the offline lexicon are its own
rules, not a teacher's judgement (on real Darija it agrees with Atlas-Chat-9B at
macro-F1 0.36, issue 12), and rows the student itself labelled would only echo
it, so both are left out unless asked. Every row that does not reach training is
counted by reason; nothing is dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

#: backends whose rows are left out by default, with the reason shown in metadata
LEXICON_BACKEND = "offline"
STUDENT_BACKEND = "student"
#: the columns a training row keeps (teacher_labels names its text column ``sentence``)
TRAINING_COLUMNS = ("text", "label", "backend", "model", "source")


class InsufficientData(ValueError):
    """Too few usable rows (or classes) to train and evaluate a student honestly."""


@dataclass
class TrainingData:
    """Usable rows (``TRAINING_COLUMNS``) and the count of every row left out, by reason."""

    rows: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def select_training_rows(labels: pl.DataFrame, *, include_offline: bool = False) -> TrainingData:
    """Keep the rows a teacher (an LLM backend, or ``imported`` labels) produced.

    ``labels`` has teacher_labels' columns ``sentence``, ``label``, ``backend`` and
    ``model`` (``source`` optional). Left out, and counted: lexicon rows
    (``backend == "offline"``) unless ``include_offline``; the student's own rows;
    rows with an empty sentence or label; repeats of a sentence already kept (the
    first occurrence wins, so one sentence never sits on both sides of the split;
    ``conflicting_repeats`` counts repeats whose label differed).
    Raises ``ValueError`` when a required column is missing.
    """
    missing = {"sentence", "label", "backend", "model"} - set(labels.columns)
    if missing:
        raise ValueError(f"teacher_labels rows lack column(s) {sorted(missing)}")
    frame = labels.with_columns(
        pl.col("sentence").cast(pl.String).str.strip_chars().alias("text"),
        pl.col("label").cast(pl.String).str.strip_chars(),
        pl.col("backend").cast(pl.String),
        pl.col("model").cast(pl.String),
        (pl.col("source") if "source" in labels.columns else pl.lit(None))
        .cast(pl.String)
        .alias("source"),
    ).select(TRAINING_COLUMNS)
    counts = {"input_rows": frame.height}

    excluded = [STUDENT_BACKEND] + ([] if include_offline else [LEXICON_BACKEND])
    for backend in (LEXICON_BACKEND, STUDENT_BACKEND):
        if backend in excluded:
            counts[f"excluded_{backend}"] = frame.filter(pl.col("backend") == backend).height
    frame = frame.filter(~pl.col("backend").is_in(excluded))

    usable = (pl.col("text").str.len_chars() > 0) & (pl.col("label").str.len_chars() > 0)
    counts["unusable_empty"] = frame.filter(~usable.fill_null(False)).height
    frame = frame.filter(usable.fill_null(False))

    per_text = frame.group_by("text").agg(pl.col("label").n_unique().alias("labels"), pl.len())
    counts["repeats"] = int((per_text["len"] - 1).sum() or 0)
    counts["conflicting_repeats"] = int(
        per_text.filter(pl.col("labels") > 1).select(pl.col("len") - 1).sum().item() or 0
    )
    frame = frame.unique(subset="text", keep="first", maintain_order=True)
    counts["kept"] = frame.height
    return TrainingData(rows=frame, counts=counts)


def teachers(rows: pl.DataFrame) -> list[dict[str, object]]:
    """Who labelled the rows: one ``{backend, model, rows}`` per pair, most rows first."""
    grouped = (
        rows.group_by("backend", "model")
        .len("rows")
        .sort(["rows", "backend"], descending=[True, False])
    )
    return grouped.to_dicts()


@dataclass
class Split:
    """The training and held-out rows; ``train_only`` counts rows of classes too rare to hold out."""

    train: pl.DataFrame
    test: pl.DataFrame
    train_only: int = 0


def stratified_split(rows: pl.DataFrame, *, test_share: float = 0.2, seed: int = 42) -> Split:
    """A seeded split holding out ``test_share`` of each class (scikit-learn's
    ``train_test_split`` with ``stratify``).

    A class with a single row cannot be on both sides: it stays in training and is
    counted in ``train_only``. Raises ``InsufficientData`` when fewer than two
    classes remain or the held-out share cannot hold one row of every class.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    sizes = rows.group_by("label").len()
    rare = sizes.filter(pl.col("len") < 2)["label"].to_list()
    splittable = rows.filter(~pl.col("label").is_in(rare))
    classes = splittable["label"].n_unique()
    if classes < 2:
        raise InsufficientData(
            f"{rows.height} usable rows with {rows['label'].n_unique()} label(s): a classifier "
            "needs at least two labels with two rows each"
        )
    n_test = math.ceil(test_share * splittable.height)
    if n_test < classes or splittable.height - n_test < classes:
        raise InsufficientData(
            f"{splittable.height} usable rows cannot hold out {test_share:.0%} with one row of "
            f"each of {classes} labels on both sides; need about {math.ceil(classes / test_share)}"
        )
    index = list(range(splittable.height))
    train_idx, test_idx = train_test_split(
        index, test_size=n_test, stratify=splittable["label"].to_list(), random_state=seed
    )
    train = pl.concat([splittable[sorted(train_idx)], rows.filter(pl.col("label").is_in(rare))])
    return Split(
        train=train, test=splittable[sorted(test_idx)], train_only=rows.height - splittable.height
    )
