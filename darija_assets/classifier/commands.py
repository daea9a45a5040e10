"""``darija-assets classify``: label one sentence, or a JSONL file in batches.

    darija-assets classify "راني فرحان بزاف"                  label and confidence
    darija-assets classify --file in.jsonl --text-field text --out out.jsonl

Each output line is the input record with ``predicted_label`` and
``predicted_confidence`` added. A line that is not a JSON object, or whose text
field is missing, empty or not a string, is reported on stderr with its line
number and left out of the output; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from darija_assets.classifier import DEFAULT_KIND, KINDS

LABEL_KEY, CONFIDENCE_KEY = "predicted_label", "predicted_confidence"


def add_classify_parser(commands: Any) -> None:
    """Register ``classify`` on the CLI's subparsers."""
    from darija_assets.classifier.student import DEFAULT_BATCH_SIZE

    parser = commands.add_parser(
        "classify", help="label Darija text with the trained student emotion classifier"
    )
    parser.add_argument("text", nargs="?", help="one sentence to label")
    parser.add_argument("--file", help="a JSONL file to label, one record per line")
    parser.add_argument("--text-field", default="text", help="the field holding the text")
    parser.add_argument("--out", help="write JSONL here (default: stdout)")
    parser.add_argument(
        "--kind",
        default=DEFAULT_KIND,
        choices=KINDS,
        help="which student (emotion_classifier partition)",
    )
    parser.add_argument("--model-dir", help="a saved student directory (default: the asset's)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)


def _records(stream: IO[str], text_field: str) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, record or None, problem) for every non-blank line."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, None, f"not JSON ({error.msg})"
            continue
        if not isinstance(record, dict):
            yield number, None, "not a JSON object"
        elif not isinstance(record.get(text_field), str) or not record[text_field].strip():
            yield number, None, f"no text in field {text_field!r}"
        else:
            yield number, record, ""


def label_jsonl(
    student: Any, source: IO[str], out: IO[str], text_field: str, batch_size: int
) -> tuple[int, int]:
    """Label every record of ``source`` into ``out``, ``batch_size`` records at a time.
    Returns (labelled, refused); refused lines are reported on stderr."""
    labelled = refused = 0
    pending: list[dict] = []

    def flush() -> None:
        predictions = student.predict([r[text_field] for r in pending], batch_size=batch_size)
        for record, prediction in zip(pending, predictions):
            record[LABEL_KEY], record[CONFIDENCE_KEY] = (
                prediction.label,
                round(prediction.confidence, 4),
            )
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        pending.clear()

    for number, record, problem in _records(source, text_field):
        if record is None:
            print(f"line {number}: {problem}; not labelled", file=sys.stderr)
            refused += 1
            continue
        pending.append(record)
        labelled += 1
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return labelled, refused


def classify(args: argparse.Namespace) -> int:
    """Run ``darija-assets classify``; returns the exit status."""
    from darija_assets.classifier.student import load_student
    from darija_assets.storage import Layout, atomic_path

    if (args.text is None) == (args.file is None):
        print("give either one sentence or --file", file=sys.stderr)
        return 2
    directory = (
        Path(args.model_dir)
        if args.model_dir
        else Layout().artifact("emotion_classifier", args.kind)
    )
    try:
        student = load_student(directory)
    except FileNotFoundError as missing:
        print(
            f"{missing}: materialize emotion_classifier --partition {args.kind} first. It is "
            "skipped, with the reason in its metadata, while every teacher_labels row comes "
            "from the offline lexicon: label with a teacher or import labelled data",
            file=sys.stderr,
        )
        return 1
    if args.text is not None:
        prediction = student.predict([args.text])[0]
        print(f"{prediction.label}\t{prediction.confidence:.3f}")
        return 0
    with open(args.file, encoding="utf-8") as source:
        if args.out:  # written beside and renamed: a crash never leaves half a file
            with atomic_path(Path(args.out)) as tmp, open(tmp, "w", encoding="utf-8") as out:
                labelled, refused = label_jsonl(
                    student, source, out, args.text_field, args.batch_size
                )
        else:
            labelled, refused = label_jsonl(
                student, source, sys.stdout, args.text_field, args.batch_size
            )
    print(f"labelled {labelled} records, refused {refused}", file=sys.stderr)
    return 1 if refused else 0
