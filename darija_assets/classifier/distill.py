"""Distillation: the teacher labels a sample and what the student is unsure of; the
student labels the rest.

For one source's sentences, a trained student predicts every label first. The
teacher then gets (1) a seeded sample of ``budget`` sentences (a count, or a share
when below 1), which measures how often the student agrees with it, and (2) every
sentence whose student confidence is below ``threshold``. The student's labels
stand for all other sentences. With budget 0 and threshold 0 the student labels
everything (the ``student`` backend): no teacher request at all.

Every row carries ``student_confidence``; the rows the student labelled say so in
their backend (``student``) and model (the student). The teacher's part goes
through the usual runner (cache, limits, quarantine), so a rerun pays only for
what was not answered yet; the student's part is recomputed (it is cheap and
deterministic).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from darija_assets.classifier.student import Student
    from darija_assets.llm.base import WorkItem
    from darija_assets.llm.runner import TaskResult
    from darija_assets.storage import Layout

STUDENT_BACKEND = "student"
CONFIDENCE_COLUMN = "student_confidence"


def budget_size(budget: float, n: int) -> int:
    """How many of ``n`` sentences a budget buys: ``budget`` itself when >= 1 (at most
    ``n``), a share of ``n`` (rounded up) when below 1. Raises ``ValueError`` if negative."""
    if budget < 0:
        raise ValueError(f"the teacher budget must not be negative, got {budget}")
    if budget < 1:
        return math.ceil(budget * n)
    return min(int(budget), n)


@dataclass
class DistillationPlan:
    """The student's prediction for every item, and which items go to the teacher."""

    items: list[WorkItem]
    labels: dict[str, str]
    confidences: dict[str, float]
    sample: set[str]
    unsure: set[str]
    student_id: str

    @property
    def for_teacher(self) -> list[WorkItem]:
        """Items of the sample or below the threshold, in input order."""
        chosen = self.sample | self.unsure
        return [item for item in self.items if item.key in chosen]

    def merge(self, teacher: TaskResult, batch_size: int) -> TaskResult:
        """The teacher's answers for its items plus the student's for the rest, as one
        ``TaskResult`` in input order. ``stats`` adds: student_labelled, teacher_items,
        teacher_sample, teacher_unsure (below the threshold, outside the sample),
        teacher_requests, teacher_requests_saved (requests all items would have needed at
        ``batch_size`` per request, less those this plan needed; retries not counted),
        sample_answered and student_agreement_on_sample (share of the sample's teacher
        labels the student predicted; -1 when the sample is empty)."""
        from darija_assets.llm.runner import TaskResult

        by_teacher = {row["key"]: row for row in teacher.rows}
        sent = {item.key for item in self.for_teacher}
        rows: list[dict[str, Any]] = []
        for item in self.items:
            if item.key in sent:
                row = by_teacher.get(item.key)
                if row is not None:
                    rows.append({**row, CONFIDENCE_COLUMN: self.confidences[item.key]})
                continue
            rows.append(
                {
                    "key": item.key,
                    "label": self.labels[item.key],
                    "backend": STUDENT_BACKEND,
                    "model": self.student_id,
                    CONFIDENCE_COLUMN: self.confidences[item.key],
                }
            )
        answered = [key for key in self.sample if key in by_teacher]
        agreeing = sum(by_teacher[key]["label"] == self.labels[key] for key in answered)
        n_all, n_sent = len(self.items), len(sent)
        stats = {
            **teacher.stats,
            "items": n_all,
            "accepted": len(rows),
            "student_labelled": n_all - n_sent,
            "teacher_items": n_sent,
            "teacher_sample": len(self.sample),
            "teacher_unsure": len(self.unsure - self.sample),
            "teacher_requests": teacher.stats.get("requests_sent", 0),
            "teacher_requests_saved": math.ceil(n_all / batch_size)
            - math.ceil(n_sent / batch_size),
            "sample_answered": len(answered),
            "student_agreement_on_sample": round(agreeing / len(answered), 4) if answered else -1.0,
            "student": self.student_id,
        }
        student_rows = n_all - n_sent
        if student_rows:
            by = f"{STUDENT_BACKEND}/{self.student_id}: {student_rows}"
            stats["answered_by"] = ", ".join(s for s in (teacher.stats.get("answered_by"), by) if s)
        return TaskResult(
            rows=rows,
            quarantined=teacher.quarantined,
            stats=stats,
            pending=teacher.pending,
            stops=teacher.stops,
        )


def plan_distillation(
    items: Sequence[WorkItem],
    student: Student,
    student_id: str,
    *,
    label_set: Sequence[str],
    budget: float = 0.0,
    threshold: float = 0.0,
    seed: int = 42,
    batch_size: int = 256,
) -> DistillationPlan:
    """Predict every item with ``student`` (``batch_size`` texts at a time) and pick the
    teacher's items: a ``random.Random(seed)`` sample of ``budget_size(budget, n)``
    item keys (drawn from the sorted keys, so input order does not matter) and every
    item with confidence below ``threshold`` (0..1). Raises ``ValueError`` when the
    student knows labels outside ``label_set`` (its rows would fail the label check)
    or the threshold is outside 0..1."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"the confidence threshold must be within 0..1, got {threshold}")
    outside = sorted(set(student.labels) - set(label_set))
    if outside:
        raise ValueError(
            f"student {student_id} predicts labels outside the label set: {', '.join(outside)}"
        )
    items = list(items)
    predictions = student.predict([item.text for item in items], batch_size=batch_size)
    keys = sorted(item.key for item in items)
    sample = set(random.Random(seed).sample(keys, budget_size(budget, len(keys))))
    return DistillationPlan(
        items=items,
        labels={item.key: p.label for item, p in zip(items, predictions)},
        confidences={item.key: p.confidence for item, p in zip(items, predictions)},
        sample=sample,
        unsure={item.key for item, p in zip(items, predictions) if p.confidence < threshold},
        student_id=student_id,
    )


def plan_for_teacher_labels(
    items: Sequence[WorkItem],
    teachers: Sequence[Any],
    layout: Layout,
    *,
    student: str,
    label_set: Sequence[str],
    budget: float,
    threshold: float,
    seed: int,
) -> DistillationPlan | None:
    """The plan teacher_labels follows, or ``None`` when no student takes part.

    A student takes part when the backend is ``student`` (it then labels everything:
    budget and threshold must be 0) or when ``student`` names one (an emotion_classifier
    kind or a saved student directory) beside a teacher. Raises ``ValueError`` for a
    student inside a teacher chain or a budget with no teacher, ``BackendUnavailable``
    when the named student was never trained."""
    from darija_assets.llm.backends.student import StudentBackend

    students = [t for t in teachers if isinstance(t, StudentBackend)]
    if students and len(teachers) > 1:
        raise ValueError(
            "the student backend labels alone; to distil, set `student` in the "
            "step config and keep a teacher as the backend"
        )
    if students and (budget or threshold):
        raise ValueError(
            "a teacher budget or confidence threshold needs a teacher: set the "
            "backend to a teacher and `student` in the step config"
        )
    chosen = students[0] if students else StudentBackend(student) if student else None
    if chosen is None:
        return None
    trained = chosen.load(layout)
    directory = chosen.directory(layout)
    student_id = (
        f"emotion_classifier/{chosen.model}" if directory != Path(chosen.model) else str(directory)
    )
    return plan_distillation(
        items,
        trained,
        student_id,
        label_set=label_set,
        budget=budget,
        threshold=threshold,
        seed=seed,
    )
