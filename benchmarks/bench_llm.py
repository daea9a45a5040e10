"""LLM step benchmark: the original one-item-per-request loop vs our runner, same run.

Both sides talk through the real SDK (groq by default) to the local stub server,
which answers every request after a fixed latency, under the same client-side RPM
limit. The original approach (one item per request, sequential) is measured on a
subsample and extrapolated linearly to the full size: a sequential loop's time is
linear in the item count, and running it on 10,000 items at 300 ms each would take
almost an hour. The script says when it extrapolates.

    python benchmarks/bench_llm.py                       # labels, 10,000 sentences
    python benchmarks/bench_llm.py --items 2000 --latency-ms 300 --rpm 600
    python benchmarks/bench_llm.py --task labels --inject-429 20
    python benchmarks/bench_llm.py --task openai       # an OpenAI-compatible server (vLLM...)

Each task section is a function registered in ``SECTIONS``; pairs and translations
sections plug in beside ``labels`` with their own task, items and scripted teacher.
The ``openai`` section labels through the openai SDK twice: a server with structured
output (json_schema), and one without it that answers as local models do, prose and a
fenced JSON block (the runner falls back once and parses leniently).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Backend, LLMTask, WorkItem
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.limiter import RateLimiter
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import Fault, Responder, StubServer, lexicon_label_teacher

#: placeholder key for the stub (it only checks that one is sent)
STUB_KEY = "bench-key"

DARIJA_PHRASES = [
    "كنبغيك بزاف أ حبيبتي",
    "توحشت الدار و الواليدين",
    "فرحان حيت نجحت فالباك",
    "ضحكنا بزاف مع الدراري",
    "خايف من داكشي اللي جاي",
    "زعفان على خويا",
    "بكيت ملي سمعت الخبر",
    "تصدمت ماتيقتش بلي رجع",
    "مشيت للسوق وشريت الخبز",
    "القطار كيخرج مع الستة",
    "تقلقت من الزحام",
    "حزين حيت مشا صاحبي",
]


def darija_sentences(n: int) -> list[WorkItem]:
    return [
        WorkItem(key=f"bench-{i:06d}", text=f"{DARIJA_PHRASES[i % len(DARIJA_PHRASES)]} {i}")
        for i in range(n)
    ]


@dataclass
class Side:
    items: int
    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds

    @property
    def requests_per_1000(self) -> float:
        return 1000 * self.requests / self.items


def original_loop(
    task: LLMTask, items: list[WorkItem], backend: Backend, limiter: RateLimiter
) -> Side:
    """The original projects' way: one request per item, one after another."""
    started = time.monotonic()
    for item in items:
        prompt = task.build_prompt([item])
        limiter.acquire()
        task.parse(backend.complete(prompt).text, [item])
    return Side(items=len(items), requests=len(items), seconds=time.monotonic() - started)


def ours(
    task: LLMTask, items: list[WorkItem], backend: Backend, limiter: RateLimiter, concurrency: int
) -> tuple[Side, dict]:
    with tempfile.TemporaryDirectory() as tmp, AnswerCache(Path(tmp) / "answers.sqlite") as cache:
        result = run_task(task, items, backend, cache, concurrency=concurrency, limiter=limiter)
    stats = result.stats
    assert stats["accepted"] + stats["quarantined"] == len(items), "every item exactly once"
    return Side(
        items=len(items), requests=stats["requests_sent"], seconds=stats["elapsed_s"]
    ), stats


def stub_backend(vendor: str, stub: StubServer) -> Backend:
    """The real SDK of ``vendor`` pointed at the stub (openai at its /v1 route)."""
    if vendor == "openai":
        return make_backend("openai", base_url=stub.url + "/v1", model="atlas-chat-9b", env={})
    return make_backend(vendor, api_key=STUB_KEY, base_url=stub.url)


def compare(
    title: str,
    make_task: Callable[[int | None], LLMTask],
    items: list[WorkItem],
    teacher: Responder,
    args: argparse.Namespace,
    *,
    vendor: str | None = None,
    reject_response_format: bool = False,
) -> dict:
    """Run both sides against one stub and print the comparison. ``make_task(None)``
    is our batched task; ``make_task(1)`` the one-item-per-request original."""
    vendor = vendor or args.vendor
    with StubServer(
        teacher, latency_s=args.latency_ms / 1000, reject_response_format=reject_response_format
    ) as stub:
        backend = stub_backend(vendor, stub)
        sample = items[: args.baseline_sample]
        base = original_loop(make_task(1), sample, backend, RateLimiter(rpm=args.rpm))
        if args.inject_429:
            stub.inject(Fault.rate_limit(retry_after_s=1.0), times=args.inject_429)
        mine, stats = ours(
            make_task(None),
            items,
            backend,
            RateLimiter(rpm=args.rpm, max_concurrency=args.concurrency),
            args.concurrency,
        )
    extrapolated = len(sample) < len(items)
    base_full_s = base.seconds * len(items) / len(sample)
    ratio = mine.per_second / base.per_second
    report = {
        "task": title,
        "items": len(items),
        "vendor": vendor,
        "latency_ms": args.latency_ms,
        "rpm_limit": args.rpm,
        "concurrency": args.concurrency,
        "original_requests_per_1000": round(base.requests_per_1000, 1),
        "ours_requests_per_1000": round(mine.requests_per_1000, 1),
        "original_items_per_s": round(base.per_second, 2),
        "ours_items_per_s": round(mine.per_second, 2),
        "original_seconds_for_all": round(base_full_s, 1),
        "original_extrapolated_from": len(sample) if extrapolated else None,
        "ours_seconds": round(mine.seconds, 1),
        "throughput_ratio": round(ratio, 1),
        "ours_rate_limited": stats["rate_limited"],
        "ours_retries": stats["retries"],
    }
    print(
        f"\n== {title}: {len(items):,} items, {args.latency_ms} ms per request, "
        f"RPM limit {args.rpm}, {vendor} SDK against the stub =="
    )
    note = f" (measured on {len(sample)} items, extrapolated linearly)" if extrapolated else ""
    print(
        f"original, 1 item/request, sequential: {base.requests_per_1000:7.1f} requests per 1,000 items, "
        f"{base.per_second:7.2f} items/s, {base_full_s:8.1f} s for all{note}"
    )
    print(
        f"ours, batched + concurrent + limited: {mine.requests_per_1000:7.1f} requests per 1,000 items, "
        f"{mine.per_second:7.2f} items/s, {mine.seconds:8.1f} s for all"
        f" ({stats['rate_limited']} rate limited, {stats['retries']} retries)"
    )
    print(f"throughput ratio: {ratio:.1f}x")
    return report


def labels_section(args: argparse.Namespace) -> dict:
    from darija_assets.llm.tasks.labels import LabelTask

    def make_task(batch_size: int | None) -> LLMTask:
        return LabelTask() if batch_size is None else LabelTask(batch_size=batch_size)

    report = compare("labels", make_task, darija_sentences(args.items), lexicon_label_teacher, args)
    report["targets_met"] = (
        report["ours_requests_per_1000"] <= 40 and report["throughput_ratio"] >= 20
    )
    print(
        f"targets (<= 40 requests per 1,000, >= 20x): {'met' if report['targets_met'] else 'NOT met'}"
    )
    return report


def prose_fenced_teacher(request) -> str:
    """A local model without JSON mode: the lexicon's labels after a preamble, in a fence."""
    return (
        "Here are the labels you asked for:\n```json\n"
        + lexicon_label_teacher(request)
        + "\n```\nHope this helps!"
    )


def openai_section(args: argparse.Namespace) -> list[dict]:
    from darija_assets.llm.tasks.labels import LabelTask

    def make_task(batch_size: int | None) -> LLMTask:
        return LabelTask() if batch_size is None else LabelTask(batch_size=batch_size)

    items = darija_sentences(args.items)
    reports = [
        compare(
            "openai labels, json_schema server",
            make_task,
            items,
            lexicon_label_teacher,
            args,
            vendor="openai",
        ),
        compare(
            "openai labels, no structured output (prose + fences)",
            make_task,
            items,
            prose_fenced_teacher,
            args,
            vendor="openai",
            reject_response_format=True,
        ),
    ]
    for report in reports:
        report["targets_met"] = (
            report["ours_requests_per_1000"] <= 40 and report["throughput_ratio"] >= 20
        )
        print(
            f"{report['task']}: targets (<= 40 requests per 1,000, >= 20x): "
            f"{'met' if report['targets_met'] else 'NOT met'}"
        )
    return reports


#: task name -> section; a section prints its comparison and returns a JSON-able report
#: (or a list of them)
SECTIONS: dict[str, Callable[[argparse.Namespace], dict | list[dict]]] = {
    "labels": labels_section,
    "openai": openai_section,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=[*SECTIONS, "all"], default="labels")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--rpm", type=float, default=600, help="client-side requests per minute")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=100,
        help="items the original loop runs before extrapolating",
    )
    parser.add_argument("--vendor", choices=["groq", "gemini", "openai"], default="groq")
    parser.add_argument(
        "--inject-429",
        type=int,
        default=0,
        help="answer this many of our requests with 429 retry-after 1 s",
    )
    parser.add_argument("--json", type=Path, help="also write the reports here")
    args = parser.parse_args(argv)
    names = list(SECTIONS) if args.task == "all" else [args.task]
    reports = []
    for name in names:
        found = SECTIONS[name](args)
        reports.extend(found if isinstance(found, list) else [found])
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
