"""Train a student on teacher labels, score it on held-out rows, and write it out
with its metrics, a confusion-matrix picture and a model card.

The output directory holds the saved student (``student.json`` and its model
files), ``metrics.json``, ``confusion_matrix.png`` and ``README.md``; it is built
beside the target and swapped in whole, so a crash never leaves half a model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from darija_assets import storage
from darija_assets.classifier import DEFAULT_KIND, KINDS
from darija_assets.classifier.data import (
    LEXICON_BACKEND,
    InsufficientData,
    select_training_rows,
    stratified_split,
    teachers,
)
from darija_assets.classifier.encoder import EncoderParams
from darija_assets.classifier.linear import LinearParams
from darija_assets.classifier.metrics import Evaluation, evaluate
from darija_assets.classifier.student import Student

METRICS_FILE = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
CARD_FILE = "README.md"


@dataclass
class ClassifierSettings:
    """What to train: the kind, the held-out share and seed, whether lexicon rows count,
    and the kind's own parameters."""

    kind: str = DEFAULT_KIND
    test_share: float = 0.2
    seed: int = 42
    include_offline: bool = False
    linear: LinearParams = field(default_factory=LinearParams)
    encoder: EncoderParams = field(default_factory=EncoderParams)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"unknown student kind {self.kind!r}; choose one of {', '.join(KINDS)}"
            )


@dataclass
class TrainingReport:
    """What was trained on what, and how it scored. ``counts``: rows kept and left out by
    reason, and the split sizes; ``label_distribution``: ``{label: {"train", "held_out"}}``;
    ``teachers``: ``{backend, model, rows}`` of the usable rows."""

    directory: Path
    kind: str
    evaluation: Evaluation
    counts: dict[str, int]
    label_distribution: dict[str, dict[str, int]]
    teachers: list[dict[str, object]]
    sources: list[str]
    settings: dict[str, object]
    trained_at: str

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["directory"] = str(self.directory)
        return out


def no_teacher_reason(counts: dict[str, int]) -> str:
    """Why no row could train a student, in words a user can act on."""
    lexicon = counts.get(f"excluded_{LEXICON_BACKEND}", 0)
    if lexicon:
        return (
            f"none of the {counts['input_rows']} teacher_labels rows comes from a teacher: "
            f"{lexicon} are the offline lexicon's (backend 'offline'), and a student learns a "
            "teacher's judgement, not the lexicon's rules. Label with a teacher (GEMINI_API_KEY, "
            "GROQ_API_KEY, an OpenAI-compatible server or DARIJA_LOCAL_MODEL), import labelled "
            "data, or set include_offline "
            "to train on the lexicon anyway"
        )
    return f"no usable labelled rows (counts: {counts})"


def _fit(
    settings: ClassifierSettings,
    train: pl.DataFrame,
    *,
    base_dir: Path | None,
    work_dir: Path | None,
    log: Callable[[str], None],
) -> Student:
    texts, labels = train["text"].to_list(), train["label"].to_list()
    if settings.kind == "linear":
        from darija_assets.classifier.linear import LinearStudent

        return LinearStudent.train(texts, labels, settings.linear)
    from darija_assets.classifier.encoder import EncoderStudent, resolve_base

    if base_dir is None or work_dir is None:
        raise ValueError("the encoder student needs a base_dir (tiny base) and a work_dir")
    base = resolve_base(settings.encoder.base, base_dir, texts)
    return EncoderStudent.train(texts, labels, base, settings.encoder, work_dir=work_dir, log=log)


def train_classifier(
    labels: pl.DataFrame,
    target: Path | str,
    settings: ClassifierSettings | None = None,
    *,
    base_dir: Path | str | None = None,
    work_dir: Path | str | None = None,
    log: Callable[[str], None] = print,
) -> TrainingReport:
    """Select teacher rows from ``labels`` (teacher_labels columns), split, train, evaluate
    and write the student to ``target``. ``base_dir``: where the tiny encoder base is
    built; ``work_dir``: encoder checkpoints. Raises ``InsufficientData`` when there is
    nothing honest to train on (its message says why)."""
    settings = settings or ClassifierSettings()
    data = select_training_rows(labels, include_offline=settings.include_offline)
    if data.rows.is_empty():
        raise InsufficientData(no_teacher_reason(data.counts))
    split = stratified_split(data.rows, test_share=settings.test_share, seed=settings.seed)
    student = _fit(
        settings,
        split.train,
        base_dir=Path(base_dir) if base_dir else None,
        work_dir=Path(work_dir) if work_dir else None,
        log=log,
    )
    predicted = [p.label for p in student.predict(split.test["text"].to_list())]
    evaluation = evaluate(
        split.test["label"].to_list(), predicted, student.labels, split.train["label"].to_list()
    )
    train_counts = dict(split.train["label"].value_counts().iter_rows())
    test_counts = dict(split.test["label"].value_counts().iter_rows())
    report = TrainingReport(
        directory=Path(target),
        kind=settings.kind,
        evaluation=evaluation,
        counts={
            **data.counts,
            "train": split.train.height,
            "held_out": split.test.height,
            "train_only": split.train_only,
        },
        label_distribution={
            label: {"train": train_counts.get(label, 0), "held_out": test_counts.get(label, 0)}
            for label in student.labels
        },
        teachers=teachers(data.rows),
        sources=sorted(s for s in data.rows["source"].unique().to_list() if s is not None),
        settings=asdict(settings),
        trained_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    _write(student, report)
    log(
        f"{settings.kind} student: accuracy {evaluation.accuracy:.3f}, macro-F1 "
        f"{evaluation.macro_f1:.3f} (always-{evaluation.majority_label}: "
        f"{evaluation.baseline_accuracy:.3f} / {evaluation.baseline_macro_f1:.3f})"
    )
    return report


def _write(student: Student, report: TrainingReport) -> None:
    target = report.directory
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        student.save(building)
        (building / CONFUSION_PNG).write_bytes(confusion_matrix_png(report.evaluation, report.kind))
        (building / METRICS_FILE).write_text(
            json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        (building / CARD_FILE).write_text(model_card(report), encoding="utf-8")
        storage.replace_dir(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def confusion_matrix_png(evaluation: Evaluation, kind: str) -> bytes:
    """The confusion matrix (counts; rows true, columns predicted) as PNG bytes, drawn on
    matplotlib's Agg canvas (no display, no global backend switch)."""
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    from darija_assets.charts import figure, png

    size = 1.5 + 0.75 * len(evaluation.labels)
    with figure(size + 1, size) as fig:
        axes = fig.subplots()
        ConfusionMatrixDisplay(
            np.array(evaluation.confusion), display_labels=evaluation.labels
        ).plot(ax=axes, cmap="Blues", colorbar=True, xticks_rotation=45, values_format="d")
        axes.set_title(
            f"{kind} student: accuracy {evaluation.accuracy:.3f}, "
            f"macro-F1 {evaluation.macro_f1:.3f}"
        )
        return png(fig)


def per_class_markdown(evaluation: Evaluation) -> str:
    """The per-class table as Markdown (label, precision, recall, F1, support)."""
    lines = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {row['label']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} "
        f"| {row['support']} |"
        for row in evaluation.per_class
    ]
    return "\n".join(lines)


def model_card(report: TrainingReport) -> str:
    """The README.md saved beside the model."""
    ev, counts = report.evaluation, report.counts
    if report.kind == "linear":
        p = report.settings["linear"]
        model = (
            f"character n-gram TF-IDF (char_wb, {p['ngram_min']}-{p['ngram_max']}) + logistic "
            f"regression (C={p['c']}, class_weight={p['class_weight']}), scikit-learn, saved "
            "with skops (`model.skops`; `skops.io.load` refuses untrusted types, unlike pickle)"
        )
    else:
        p = report.settings["encoder"]
        model = (
            f"encoder `{p['base']}` fine-tuned with LoRA (r=8, alpha=16, dropout 0.1 on query/"
            f"value; the original classifier's recipe), lr {p['learning_rate']}, "
            f"max_length {p['max_length']}; adapter and head in `adapter/`"
        )
    teacher_lines = "\n".join(
        f"- `{t['backend']}` / `{t['model']}`: {t['rows']} rows" for t in report.teachers
    )
    distribution = "\n".join(
        f"| {label} | {c['train']} | {c['held_out']} |"
        for label, c in report.label_distribution.items()
    )
    left_out = ", ".join(
        f"{k}: {v}" for k, v in counts.items() if k.startswith(("excluded_", "unusable", "repeat"))
    )
    return f"""# emotion_classifier ({report.kind})

A student emotion classifier for Darija (Arabic script), trained on teacher labels
from the darija-assets graph on {report.trained_at}.

**Model**: {model}.

## Training data

{counts["kept"]} usable rows of {counts["input_rows"]} teacher_labels rows from source(s)
{", ".join(report.sources) or "unknown"}; left out: {left_out}. Held out: a seeded
({report.settings["seed"]}), stratified {report.settings["test_share"]:.0%}
({counts["held_out"]} rows); {counts["train"]} rows trained
({counts["train_only"]} of labels too rare to hold out).

Labelled by:
{teacher_lines}

| label | train | held out |
|---|---|---|
{distribution}

## Held-out results

| | accuracy | macro-F1 |
|---|---|---|
| this student | {ev.accuracy:.3f} | {ev.macro_f1:.3f} |
| always `{ev.majority_label}` | {ev.baseline_accuracy:.3f} | {ev.baseline_macro_f1:.3f} |

{per_class_markdown(ev)}

![confusion matrix]({CONFUSION_PNG})

## Use

```bash
darija-assets classify --kind {report.kind} "راني فرحان بزاف اليوم"
darija-assets classify --kind {report.kind} --file sentences.jsonl --text-field text --out labelled.jsonl
```

```python
from darija_assets.classifier.student import load_student
load_student("<this directory>").predict(["..."])  # [Prediction(label, confidence)]
```

## Limits

It imitates its teacher, mistakes included, and it is only as good as the metrics
above on data like its training data. Confidences are the model's probabilities, not
calibrated guarantees. It labels the feeling a sentence expresses; it is not a
diagnostic or clinical tool, and it says nothing about a person.
"""
