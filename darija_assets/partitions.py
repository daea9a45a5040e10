"""The three partition dimensions of the asset graph: source, emotion, model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from darija_assets.llm.tasks.labels import DEFAULT_LABELS
from darija_assets.sources import load_registry
from darija_assets.training.presets import PRESETS

#: the teacher's default label set (the original project's seven emotions), one partition each
EMOTIONS: tuple[str, ...] = tuple(DEFAULT_LABELS)

#: model presets (training/presets.py imports no ML library, so loading stays fast)
MODEL_PRESETS: tuple[str, ...] = tuple(PRESETS)

#: read once when the code location loads; a rejected entry is logged, and its partition (when
#: the name is a valid key) fails with the reason when materialized (see sources.py)
SOURCE_REGISTRY = load_registry()

source_partitions = dg.StaticPartitionsDefinition(SOURCE_REGISTRY.partition_keys())
emotion_partitions = dg.StaticPartitionsDefinition(list(EMOTIONS))
model_partitions = dg.StaticPartitionsDefinition(list(MODEL_PRESETS))


F = TypeVar("F", bound=Callable)


def with_source_problems(fn: F) -> F:
    """Append the sources file's problems (rejected entries, an unreadable file, undeclared
    sources with data) to ``fn``'s docstring, which Dagster shows as the asset's description:
    a name refused as a partition key leaves no partition behind to fail, so the UI says it
    here. Apply it under ``@dg.asset``."""
    if SOURCE_REGISTRY.problems:
        lines = "\n".join(f"- {problem}" for problem in SOURCE_REGISTRY.problems)
        fn.__doc__ = f"{fn.__doc__ or ''}\n\n**Problems in the source registry:**\n\n{lines}"
    return fn
