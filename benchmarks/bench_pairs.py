"""Benchmark: therapy pairs and translations per minute, ours vs the original loop.

Against the local stub server (real groq SDK, fixed latency per request), in the same
process, for the same pairs:

* original: one request per item, sequential, as the notebook generated pairs and the
  Groq script translated them (``--original-delay`` adds the script's sleep between
  calls; 0 by default, which flatters the original);
* ours: ``generate_pairs`` / ``translate_pairs``: many items per request, several
  requests in flight, every answered batch committed to a fresh SQLite answer cache.

Both sides parse and validate every answer with the same task, and the benchmark
checks they accepted the same number of items, so the speed-up is not doing less.

    python benchmarks/bench_pairs.py                      # 120 pairs, 300 ms latency
    python benchmarks/bench_pairs.py --pairs 40 --latency 0.1   # quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Accepted, Backend, LLMTask, WorkItem
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.limiter import RateLimiter
from darija_assets.llm.stub_server import StubServer
from darija_assets.llm.tasks.pairs import TherapyPairTask
from darija_assets.llm.tasks.translate import TranslationTask
from darija_assets.therapy.pairs import generate_pairs
from darija_assets.therapy.translations import translate_pairs
from darija_assets_tests.therapy.teachers import labelled_sentences, therapist, translator

EMOTION = "Sadness"


def original_loop(task: LLMTask, items: list[WorkItem], backend: Backend, delay_s: float) -> int:
    """One request per item, one after the other; returns how many answers were accepted."""
    accepted = 0
    for item in items:
        completion = backend.complete(task.build_prompt([item]))
        verdict = task.parse(completion.text, [item]).get(item.key)
        accepted += isinstance(verdict, Accepted)
        if delay_s:
            time.sleep(delay_s)
    return accepted


def report(
    step: str, n: int, original: tuple[float, int, int], ours: tuple[float, int, int]
) -> None:
    (t_orig, req_orig, ok_orig), (t_ours, req_ours, ok_ours) = original, ours
    if ok_orig != ok_ours:
        raise SystemExit(f"{step}: the two runs accepted different counts ({ok_orig} vs {ok_ours})")
    per_min_orig, per_min_ours = n / t_orig * 60, n / t_ours * 60
    print(
        f"{step:>12}: original {per_min_orig:8.1f}/min ({req_orig} requests, {t_orig:6.2f} s)  "
        f"ours {per_min_ours:8.1f}/min ({req_ours} requests, {t_ours:6.2f} s)  "
        f"ratio {per_min_ours / per_min_orig:5.1f}x  accepted {ok_ours}/{n}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=120)
    parser.add_argument("--latency", type=float, default=0.3, help="stub seconds per request")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rpm", type=float, default=None, help="client-side requests/min (ours)")
    parser.add_argument("--original-delay", type=float, default=0.0)
    args = parser.parse_args()

    labels = labelled_sentences({EMOTION: args.pairs})
    pair_task, translate_task = TherapyPairTask(), TranslationTask()
    print(
        f"{args.pairs} pairs, stub latency {args.latency * 1000:.0f} ms/request, "
        f"concurrency {args.concurrency}, rpm {args.rpm or 'unlimited'}, "
        f"batch {pair_task.batch_size} pairs / {translate_task.batch_size} translations per request"
    )

    with (
        StubServer(therapist(), latency_s=args.latency) as stub,
        tempfile.TemporaryDirectory() as tmp,
    ):
        backend = make_backend("groq", api_key="bench-key", base_url=stub.url, timeout_s=60)
        limiter = RateLimiter(rpm=args.rpm, max_concurrency=args.concurrency) if args.rpm else None
        options = {"concurrency": args.concurrency, "limiter": limiter}

        # -- pairs ---------------------------------------------------------------
        with AnswerCache(Path(tmp) / "answers.sqlite") as cache:
            start = len(stub.requests)
            t0 = time.perf_counter()
            pairs = generate_pairs(labels, EMOTION, backend, cache, quota=args.pairs, **options)
            ours = (time.perf_counter() - t0, len(stub.requests) - start, pairs.pairs.height)
        items = [
            pair_task.work_item(r["pair_id"], r["input"], r["emotion"], r["style"])
            for r in pairs.pairs.iter_rows(named=True)
        ]
        start = len(stub.requests)
        t0 = time.perf_counter()
        accepted = original_loop(pair_task, items, backend, args.original_delay)
        original = (time.perf_counter() - t0, len(stub.requests) - start, accepted)
        report("pairs", len(items), original, ours)

        # -- translations --------------------------------------------------------
        stub.responder = translator()
        with AnswerCache(Path(tmp) / "answers-tr.sqlite") as cache:
            start = len(stub.requests)
            t0 = time.perf_counter()
            done = translate_pairs(pairs.pairs, backend, cache, **options)
            ours = (time.perf_counter() - t0, len(stub.requests) - start, done.translations.height)
        items = [
            translate_task.work_item(r["pair_id"], r["input"], r["output"])
            for r in pairs.pairs.iter_rows(named=True)
        ]
        start = len(stub.requests)
        t0 = time.perf_counter()
        accepted = original_loop(translate_task, items, backend, args.original_delay)
        original = (time.perf_counter() - t0, len(stub.requests) - start, accepted)
        report("translations", len(items), original, ours)


if __name__ == "__main__":
    main()
