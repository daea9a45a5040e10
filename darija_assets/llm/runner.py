"""Run one LLM task over many work items: batched, cached, rate-limited, resumable.

The loop, for any task (labels, pairs, translations) and any backend:

1. Items with the same cache key (same question) are asked once; answers already
   in the cache are reused without a request.
2. The rest go out ``task.batch_size`` per request, several requests at a time
   (threads), inside the limiter's RPM/TPM budget.
3. Each answer is parsed by the task. Accepted items and final rejections are
   committed to the cache in one transaction per answered request *before* the
   request counts as done, so ``kill -9`` at any moment loses at most the requests
   in flight.
4. Items the answer missed or got wrong are asked again in smaller batches, then
   alone, up to ``max_retries`` times, then quarantined with the last reason.
5. 429s wait for the server's retry-after (and hold back every worker); 5xx and
   timeouts back off exponentially with jitter. A 429 storm slows the run down,
   it does not fail it.

The offline backend needs none of this: it asks ``task.offline`` per item.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from darija_assets.llm.backends.offline import OfflineBackend
from darija_assets.llm.base import (
    Accepted,
    Backend,
    BackendUnavailable,
    Completion,
    LLMError,
    LLMTask,
    MalformedAnswer,
    RateLimited,
    Rejected,
    TransientError,
    Verdict,
    WorkItem,
    cache_key,
)
from darija_assets.llm.cache import AnswerCache, CachedAnswer
from darija_assets.llm.limiter import RateLimiter, estimate_tokens

#: how much of a raw answer a quarantine row keeps (whole answers can be long)
RAW_KEEP_CHARS = 2000
MISSING_ID_REASON = "the answer did not include this id"


@dataclass
class TaskResult:
    """What a run produced. ``rows`` and ``quarantined`` follow the input order and
    hold every input item exactly once between them."""

    rows: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    stats: dict[str, Any]


class IncompleteRun(LLMError):
    """Some items got no answer at all (the backend kept failing). Everything that
    was answered is committed to the cache: running again continues from there."""

    def __init__(self, message: str, result: TaskResult, unanswered: dict[str, str]):
        super().__init__(message)
        self.result = result
        #: item key -> the last transport error it met
        self.unanswered = unanswered


@dataclass
class _Question:
    """One distinct question (cache key) and every input item that asks it."""

    cache_key: str
    items: list[WorkItem]
    tries: int = 0  # answered requests that carried it without an acceptable verdict

    @property
    def asked(self) -> WorkItem:
        return self.items[0]


@dataclass
class _Batch:
    questions: list[_Question]
    not_before: float = 0.0
    transport_failures: int = 0
    rate_limit_waits: int = 0


@dataclass
class _Run:
    """Mutable bookkeeping of one ``run_task`` call."""

    task: LLMTask
    backend: Backend
    total_items: int
    final: dict[str, CachedAnswer] = field(default_factory=dict)  # cache key -> settled answer
    unanswered: dict[str, str] = field(default_factory=dict)  # cache key -> last error
    answered_items: int = 0  # items settled by this run's requests
    stats: dict[str, Any] = field(default_factory=dict)


def run_task(
    task: LLMTask,
    items: Iterable[WorkItem],
    backend: Backend,
    cache: AnswerCache | None,
    *,
    concurrency: int = 4,
    limiter: RateLimiter | None = None,
    max_retries: int = 3,
    log: Callable[[str], None] | None = None,
    on_batch_done: Callable[[dict[str, Any]], None] | None = None,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    max_transport_retries: int = 6,
    max_rate_limit_waits: int = 1000,
    seed: int | None = None,
) -> TaskResult:
    """Answer ``task`` for every item with ``backend``.

    Returns a ``TaskResult``. Raises ``BackendUnavailable`` when the backend is
    offline and the task has no offline form (the caller reports the step as
    skipped), ``IncompleteRun`` when some items could not be answered after
    ``max_transport_retries`` transport failures, and lets any other backend error
    (bad key, bad request) through after committing what was answered.

    ``stats`` keys: items, duplicate_keys, cache_hits, requests_sent, retries,
    rate_limited, transient_errors, accepted, quarantined, input_tokens,
    output_tokens, limiter_wait_s, elapsed_s, backend, model.

    ``on_batch_done`` is called after each answered request is committed, with
    task, total_items, done_items, requests_sent, retries, rate_limited (for a
    progress bar or a heartbeat).
    """
    started = time.monotonic()
    unique, duplicates = _dedupe(items)
    stats: dict[str, Any] = {
        "items": len(unique), "duplicate_keys": duplicates, "cache_hits": 0,
        "requests_sent": 0, "retries": 0, "rate_limited": 0, "transient_errors": 0,
        "accepted": 0, "quarantined": 0, "input_tokens": 0, "output_tokens": 0,
        "limiter_wait_s": 0.0, "elapsed_s": 0.0, "backend": backend.name, "model": backend.model,
    }
    say = log or (lambda _msg: None)
    # A limiter may be shared by several steps: report only this run's waiting.
    waited_before = limiter.waited_s if limiter is not None else 0.0

    if isinstance(backend, OfflineBackend):
        result = _run_offline(task, unique, stats)
    else:
        run = _Run(task=task, backend=backend, total_items=len(unique), stats=stats)
        questions = _group_questions(task, backend, unique)
        _use_cache(run, questions, cache)
        pending = [q for q in questions.values() if q.cache_key not in run.final]
        if pending:
            say(f"{task.name}: {len(unique)} items, {stats['cache_hits']} from cache, "
                f"{len(pending)} questions to ask {backend.name}/{backend.model}")
            _ask(run, pending, cache, concurrency=concurrency, limiter=limiter,
                 max_retries=max_retries, say=say, on_batch_done=on_batch_done,
                 backoff=_Backoff(backoff_s, max_backoff_s, random.Random(seed)),
                 max_transport_retries=max_transport_retries,
                 max_rate_limit_waits=max_rate_limit_waits)
        result = _assemble(run, questions, unique)
        if limiter is not None:
            stats["limiter_wait_s"] = round(limiter.waited_s - waited_before, 3)
        if run.unanswered:
            stats["elapsed_s"] = round(time.monotonic() - started, 3)
            unanswered = {
                item.key: run.unanswered[q.cache_key]
                for q in questions.values() if q.cache_key in run.unanswered for item in q.items
            }
            raise IncompleteRun(
                f"{len(unanswered)} of {len(unique)} items got no answer from "
                f"{backend.name}; answered ones are cached, run again to continue",
                result, unanswered,
            )
    stats["elapsed_s"] = round(time.monotonic() - started, 3)
    say(f"{task.name}: done, {stats['accepted']} accepted, {stats['quarantined']} quarantined, "
        f"{stats['requests_sent']} requests, {stats['cache_hits']} cache hits")
    return result


def _dedupe(items: Iterable[WorkItem]) -> tuple[list[WorkItem], int]:
    """Keep the first item per key; a key is one row in the output table."""
    seen: dict[str, WorkItem] = {}
    duplicates = 0
    for item in items:
        if item.key in seen:
            duplicates += 1
        else:
            seen[item.key] = item
    return list(seen.values()), duplicates


def _run_offline(task: LLMTask, items: list[WorkItem], stats: dict[str, Any]) -> TaskResult:
    stats["backend"], stats["model"] = task.offline_backend, task.offline_model
    rows, quarantined = [], []
    for item in items:
        started = time.monotonic()
        verdict = task.offline(item)
        if verdict is None:
            raise BackendUnavailable(
                f"task {task.name!r} has no offline form: set GEMINI_API_KEY or GROQ_API_KEY, "
                "or DARIJA_LOCAL_MODEL for a local model"
            )
        answer = CachedAnswer(
            cache_key="", task=task.name, prompt_version=task.prompt_version,
            backend=task.offline_backend, model=task.offline_model, verdict=verdict,
            latency_s=time.monotonic() - started,
        )
        _emit(item, answer, rows, quarantined, stats)
    return TaskResult(rows=rows, quarantined=quarantined, stats=stats)


def _group_questions(task: LLMTask, backend: Backend, items: list[WorkItem]) -> dict[str, _Question]:
    questions: dict[str, _Question] = {}
    for item in items:
        key = cache_key(backend.name, backend.model, task, item)
        if key in questions:
            questions[key].items.append(item)
        else:
            questions[key] = _Question(cache_key=key, items=[item])
    return questions


def _use_cache(run: _Run, questions: dict[str, _Question], cache: AnswerCache | None) -> None:
    if cache is None:
        return
    for key, answer in cache.get_many(questions).items():
        run.final[key] = answer
        run.stats["cache_hits"] += len(questions[key].items)


class _Backoff:
    def __init__(self, base_s: float, max_s: float, rng: random.Random):
        self.base_s, self.max_s, self.rng = base_s, max_s, rng

    def after_failure(self, failures: int) -> float:
        """Exponential with "equal jitter": between half and all of the step, so
        workers that failed together do not come back together."""
        step = min(self.max_s, self.base_s * 2 ** max(0, failures - 1))
        return step * (0.5 + 0.5 * self.rng.random())

    def after_rate_limit(self, retry_after_s: float | None, waits: int) -> float:
        if retry_after_s is None:
            return self.after_failure(waits)
        # Never earlier than the server asked; a little later so a crowd of
        # clients does not return on the same tick.
        return retry_after_s * (1.0 + 0.1 * self.rng.random())


def _ask(
    run: _Run,
    pending: list[_Question],
    cache: AnswerCache | None,
    *,
    concurrency: int,
    limiter: RateLimiter | None,
    max_retries: int,
    say: Callable[[str], None],
    on_batch_done: Callable[[dict[str, Any]], None] | None,
    backoff: _Backoff,
    max_transport_retries: int,
    max_rate_limit_waits: int,
) -> None:
    task, backend, stats = run.task, run.backend, run.stats
    size = max(1, task.batch_size)
    queue: deque[_Batch] = deque(
        _Batch(pending[i : i + size]) for i in range(0, len(pending), size)
    )
    per_call = max(1, backend.prompts_per_call)
    in_flight: dict[Future, list[_Batch]] = {}
    last_log = time.monotonic()

    def send(batches: list[_Batch]) -> list[Completion]:
        prompts = [task.build_prompt([q.asked for q in b.questions]) for b in batches]
        if limiter is None:
            return backend.complete_many(prompts)
        # Budget input plus a comparable amount of output: vendors count both in TPM.
        tokens = sum(estimate_tokens(p.system + p.user) * 3 // 2 for p in prompts)
        with limiter.slot(tokens, requests=len(prompts)):
            return backend.complete_many(prompts)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"llm-{task.name}")
    try:
        while queue or in_flight:
            now = time.monotonic()
            while len(in_flight) < max(1, concurrency):
                ready = [b for b in queue if b.not_before <= now][:per_call]
                if not ready:
                    break
                for b in ready:
                    queue.remove(b)
                stats["requests_sent"] += len(ready)
                in_flight[pool.submit(send, ready)] = ready
            if not in_flight:
                time.sleep(max(0.0, min(b.not_before for b in queue) - now))
                continue
            # With every slot busy only a finished request can change anything; with a
            # free slot, the next batch whose backoff ends can.
            slots_full = len(in_flight) >= max(1, concurrency)
            timeout = None if slots_full or not queue else max(
                0.0, min(b.not_before for b in queue) - now)
            done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                batches = in_flight.pop(future)
                try:
                    completions = future.result()
                except RateLimited as exc:
                    stats["rate_limited"] += len(batches)
                    for b in batches:
                        b.rate_limit_waits += 1
                        delay = backoff.after_rate_limit(exc.retry_after_s, b.rate_limit_waits)
                        if limiter is not None:
                            limiter.pause_for(delay)
                        _requeue(run, queue, b, delay, b.rate_limit_waits > max_rate_limit_waits,
                                 f"rate limited {b.rate_limit_waits} times: {exc}")
                    continue
                except TransientError as exc:
                    stats["transient_errors"] += len(batches)
                    for b in batches:
                        b.transport_failures += 1
                        _requeue(run, queue, b, backoff.after_failure(b.transport_failures),
                                 b.transport_failures > max_transport_retries,
                                 f"{b.transport_failures} transport failures, last: {exc}")
                    continue
                for b, completion in zip(batches, completions):
                    again = _retry_batches(_judge(run, b, completion, cache, max_retries),
                                           size, max_retries)
                    queue.extend(again)
                    stats["retries"] += len(again)
                    if on_batch_done is not None:
                        on_batch_done(_progress(run))
            if time.monotonic() - last_log >= 5.0:
                last_log = time.monotonic()
                p = _progress(run)
                say(f"{task.name}: {p['done_items']}/{p['total_items']} items done, "
                    f"{stats['requests_sent']} requests, {stats['retries']} retries, "
                    f"{stats['rate_limited']} rate limited")
    finally:
        # On a fatal error do not wait for requests in flight: their answers were
        # never committed, so a rerun asks them again.
        pool.shutdown(wait=False, cancel_futures=True)


def _requeue(run: _Run, queue: deque[_Batch], batch: _Batch, delay: float, give_up: bool,
             reason: str) -> None:
    if give_up:
        for q in batch.questions:
            run.unanswered[q.cache_key] = reason
        return
    run.stats["retries"] += 1
    batch.not_before = time.monotonic() + delay
    queue.appendleft(batch)


def _judge(run: _Run, batch: _Batch, completion: Completion, cache: AnswerCache | None,
           max_retries: int) -> list[_Question]:
    """Validate one answer, commit its final verdicts, return the questions to ask again."""
    task, backend, stats = run.task, run.backend, run.stats
    asked = [q.asked for q in batch.questions]
    try:
        verdicts: dict[str, Verdict] = task.parse(completion.text, asked)
        missing_reason = MISSING_ID_REASON
    except MalformedAnswer as exc:
        verdicts, missing_reason = {}, str(exc)
    stats["input_tokens"] += completion.input_tokens or 0
    stats["output_tokens"] += completion.output_tokens or 0
    n = len(batch.questions)
    share_in = None if completion.input_tokens is None else completion.input_tokens // n
    share_out = None if completion.output_tokens is None else completion.output_tokens // n
    raw_answer = completion.text[:RAW_KEEP_CHARS]

    settled: list[CachedAnswer] = []
    retry: list[_Question] = []
    for q in batch.questions:
        verdict = verdicts.get(q.asked.key) or Rejected(reason=missing_reason, raw=raw_answer)
        if isinstance(verdict, Rejected):
            q.tries += 1
            if q.tries <= max_retries:
                retry.append(q)
                continue
            verdict = Rejected(reason=verdict.reason, raw=verdict.raw or raw_answer)
        settled.append(CachedAnswer(
            cache_key=q.cache_key, task=task.name, prompt_version=task.prompt_version,
            backend=backend.name, model=completion.model or backend.model, verdict=verdict,
            latency_s=completion.latency_s, input_tokens=share_in, output_tokens=share_out,
        ))
    # The durable step: once this commit returns, a kill -9 cannot lose these answers.
    if cache is not None:
        cache.put_many(settled)
    for answer in settled:
        run.final[answer.cache_key] = answer
    run.answered_items += sum(len(q.items) for q in batch.questions if q.cache_key in run.final)
    return retry


def _retry_batches(retry: list[_Question], size: int, max_retries: int) -> list[_Batch]:
    """Smaller batches for each further try (half, then a quarter, ...), and the
    last try alone, so one confusing item cannot keep failing its neighbours."""
    batches: list[_Batch] = []
    by_tries: dict[int, list[_Question]] = {}
    for q in retry:
        by_tries.setdefault(q.tries, []).append(q)
    for tries, qs in sorted(by_tries.items()):
        step = 1 if tries >= max_retries else max(1, size >> tries)
        batches.extend(_Batch(qs[i : i + step]) for i in range(0, len(qs), step))
    return batches


def _progress(run: _Run) -> dict[str, Any]:
    return {
        "task": run.task.name,
        "total_items": run.total_items,
        "done_items": run.stats["cache_hits"] + run.answered_items,
        "requests_sent": run.stats["requests_sent"],
        "retries": run.stats["retries"],
        "rate_limited": run.stats["rate_limited"],
    }


def _assemble(run: _Run, questions: dict[str, _Question], items: list[WorkItem]) -> TaskResult:
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    item_question = {item.key: q for q in questions.values() for item in q.items}
    for item in items:
        settled = run.final.get(item_question[item.key].cache_key)
        if settled is not None:
            _emit(item, settled, rows, quarantined, run.stats)
    return TaskResult(rows=rows, quarantined=quarantined, stats=run.stats)


def _emit(item: WorkItem, answer: CachedAnswer, rows: list, quarantined: list,
          stats: dict[str, Any]) -> None:
    common = {"backend": answer.backend, "model": answer.model,
              "prompt_version": answer.prompt_version}
    if isinstance(answer.verdict, Accepted):
        stats["accepted"] += 1
        rows.append({"key": item.key, **answer.verdict.value, **common,
                     "latency_s": round(answer.latency_s, 4), "raw_answer": answer.verdict.raw})
    else:
        stats["quarantined"] += 1
        quarantined.append({"key": item.key, "reason": answer.verdict.reason,
                            "raw": answer.verdict.raw, **common})
