"""One interface for every student kind: predict in batches, save, load.

A saved student is a directory: its model files plus ``student.json`` (kind,
labels in probability-column order, settings), so ``load_student`` needs nothing
but the path.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from darija_assets.classifier import KINDS, STUDENT_FILE

if TYPE_CHECKING:
    import numpy as np

#: texts per ``predict_proba`` call: bounds memory, not results (predictions do not
#: depend on the batch a text falls in)
DEFAULT_BATCH_SIZE = 256


class Prediction(NamedTuple):
    """One text's label and the student's probability for it (0..1)."""

    label: str
    confidence: float


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` (>= 1) elements."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Student(ABC):
    """A trained emotion classifier. ``labels`` orders the probability columns."""

    kind: ClassVar[str]
    labels: tuple[str, ...]

    @abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)), rows summing to 1."""

    @abstractmethod
    def _save_files(self, directory: Path) -> dict[str, Any]:
        """Write the model files into ``directory``; return settings for ``student.json``."""

    def predict(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> list[Prediction]:
        """The most probable label of each text and its probability, ``batch_size`` texts
        at a time."""
        out: list[Prediction] = []
        for chunk in batches(list(texts), batch_size):
            probabilities = self.predict_proba(chunk)
            best = probabilities.argmax(axis=1)
            out += [
                Prediction(self.labels[i], float(row[i])) for i, row in zip(best, probabilities)
            ]
        return out

    def save(self, directory: Path | str) -> Path:
        """Write the student into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        settings = self._save_files(directory)
        meta = {"kind": self.kind, "labels": list(self.labels), **settings}
        (directory / STUDENT_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return directory


def read_student_meta(directory: Path | str) -> dict[str, Any]:
    """``student.json`` of a saved student; raises ``FileNotFoundError`` when there is none."""
    path = Path(directory) / STUDENT_FILE
    if not path.exists():
        raise FileNotFoundError(f"no trained student at {directory} ({STUDENT_FILE} missing)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_student(directory: Path | str) -> Student:
    """Load the student saved in ``directory``, whatever its kind.
    Raises ``FileNotFoundError`` (nothing there) or ``ValueError`` (unknown kind)."""
    meta = read_student_meta(directory)
    kind = meta.get("kind")
    if kind == "linear":
        from darija_assets.classifier.linear import LinearStudent

        return LinearStudent.load(Path(directory), meta)
    if kind == "encoder":
        from darija_assets.classifier.encoder import EncoderStudent

        return EncoderStudent.load(Path(directory), meta)
    raise ValueError(f"{directory}: unknown student kind {kind!r}; known: {', '.join(KINDS)}")
