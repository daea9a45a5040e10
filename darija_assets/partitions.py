"""The three partition dimensions of the asset graph: source, emotion, model."""

from __future__ import annotations

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
