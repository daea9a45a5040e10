"""Distillation benchmark: teacher requests with and without the student, and how
much of the teacher's labelling the distilled labels keep.

A generated corpus (made-up Darija built from emotion cue words, 5% of labels
flipped at random the way a teacher errs) is split in two: labels of the first part
are imported and train the linear student; the second part is labelled by a
scripted teacher behind the local stub server (real Groq SDK, the answer key as its
answers), once alone and once per distillation setting. "Kept" is the share of
final labels equal to the teacher's own.

    python benchmarks/bench_distill.py
    python benchmarks/bench_distill.py --budget 0.05 --thresholds 0.3 0.5 0.7
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl

from darija_assets.classifier.distill import plan_distillation
from darija_assets.classifier.student import load_student
from darija_assets.classifier.train import train_classifier
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import WorkItem
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import StubRequest, StubServer
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets_tests.classifier.conftest import made_up_rows

STUB_KEY = "bench-key"


def corpus(seeds: range) -> list[dict[str, str]]:
    """Distinct made-up rows over several seeds (first label of a sentence wins)."""
    seen: dict[str, str] = {}
    for seed in seeds:
        for row in made_up_rows(seed):
            seen.setdefault(row["text"], row["label"])
    return [{"text": t, "label": label} for t, label in seen.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-seeds", type=int, default=2)
    parser.add_argument("--label-seeds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=0.05)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--batch-size", type=int, default=40)
    args = parser.parse_args()

    train_rows = corpus(range(1, 1 + args.train_seeds))
    known = {r["text"] for r in train_rows}
    label_rows = [r for r in corpus(range(100, 100 + args.label_seeds)) if r["text"] not in known]
    truth = {r["text"]: r["label"] for r in label_rows}
    items = [WorkItem(key=f"b{i:05d}", text=r["text"]) for i, r in enumerate(label_rows)]
    task = LabelTask(batch_size=args.batch_size)

    def teacher(request: StubRequest) -> str:
        answers = [{"id": i["id"], "label": truth[i["text"]]} for i in request.items()]
        return json.dumps({"labels": answers}, ensure_ascii=False)

    with tempfile.TemporaryDirectory() as tmp:
        imported = pl.DataFrame(
            {
                "sentence": [r["text"] for r in train_rows],
                "label": [r["label"] for r in train_rows],
                "backend": ["imported"] * len(train_rows),
                "model": ["bench.jsonl"] * len(train_rows),
                "source": ["bench"] * len(train_rows),
            }
        )
        report = train_classifier(imported, Path(tmp) / "student", log=lambda _m: None)
        student = load_student(report.directory)
        ev = report.evaluation
        print(
            f"student: {len(train_rows)} imported labels; held out: accuracy {ev.accuracy:.3f}, "
            f"macro-F1 {ev.macro_f1:.3f}; labelling {len(items)} new sentences"
        )

        def ask(asked: list[WorkItem], name: str) -> tuple[dict[str, str], int]:
            with StubServer(teacher) as stub, AnswerCache(Path(tmp) / f"{name}.sqlite") as cache:
                backend = make_backend("groq", api_key=STUB_KEY, base_url=stub.url, timeout_s=10)
                result = run_task(task, asked, backend, cache, concurrency=4)
                return {r["key"]: r["label"] for r in result.rows}, len(stub.requests)

        teacher_labels, alone = ask(items, "alone")
        print(f"\nteacher alone: {alone} requests for {len(items)} sentences")
        print(
            "| budget | threshold | teacher sentences | requests | saved | kept | agreement on sample |"
        )
        print("|---|---|---|---|---|---|---|")
        for threshold in args.thresholds:
            plan = plan_distillation(
                items,
                student,
                "bench",
                label_set=task.labels,
                budget=args.budget,
                threshold=threshold,
            )
            answered, requests = ask(plan.for_teacher, f"distil-{threshold}")
            final = {**plan.labels, **answered}
            kept = sum(final[k] == teacher_labels[k] for k in teacher_labels) / len(teacher_labels)
            sample = [k for k in plan.sample if k in answered]
            agree = sum(plan.labels[k] == answered[k] for k in sample) / max(len(sample), 1)
            print(
                f"| {args.budget} | {threshold} | {len(plan.for_teacher)} | {requests} | "
                f"{1 - requests / alone:.0%} | {kept:.3f} | {agree:.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
