"""Held-out metrics of a student, and the always-majority baseline it must beat.

All numbers come from ``sklearn.metrics``. Macro averages run over the labels
present in the held-out rows (a label with no held-out row has no recall to
average); the per-class table and the confusion matrix list every label the
student knows, in its order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass
class Evaluation:
    """What a student scored on held-out rows.

    ``per_class``: one ``{label, precision, recall, f1, support}`` per label;
    ``confusion``: rows are true labels, columns predicted labels, both in ``labels``
    order; ``majority_label``: the most frequent training label, which the baseline
    predicts for every row.
    """

    labels: list[str]
    accuracy: float
    macro_f1: float
    per_class: list[dict[str, object]]
    confusion: list[list[int]]
    majority_label: str
    baseline_accuracy: float
    baseline_macro_f1: float
    held_out: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def majority_label(train_labels: Sequence[str]) -> str:
    """The most frequent label (ties go to the alphabetically first, so it is deterministic)."""
    counts = Counter(train_labels)
    if not counts:
        raise ValueError("no training labels")
    return min(counts, key=lambda label: (-counts[label], label))


def evaluate(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    train_labels: Sequence[str],
) -> Evaluation:
    """Score predictions ``y_pred`` against ``y_true`` (same length, labels drawn from
    ``labels``), beside an always-majority baseline fitted on ``train_labels``.
    Raises ``ValueError`` on empty or mismatched inputs."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    if not y_true or len(y_true) != len(y_pred):
        raise ValueError(
            f"need as many predictions as held-out rows ({len(y_pred)} vs {len(y_true)})"
        )
    labels = list(labels)
    present = [label for label in labels if label in set(y_true)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    majority = majority_label(train_labels)
    baseline = [majority] * len(y_true)
    return Evaluation(
        labels=labels,
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        per_class=[
            {
                "label": label,
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        majority_label=majority,
        baseline_accuracy=float(accuracy_score(y_true, baseline)),
        baseline_macro_f1=float(
            f1_score(y_true, baseline, labels=present, average="macro", zero_division=0)
        ),
        held_out=len(y_true),
    )
