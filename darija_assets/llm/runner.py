"""Run one LLM task over many work items: batched, cached, rate-limited, resumable.

The loop, for any task (labels, pairs, translations) and any chain of teachers
(``gemini,groq,offline`` or a single backend):

1. Items with the same cache key (same question) are asked once; an answer already
   in the cache from *any* teacher of the chain is reused without a request.
2. The rest go to the first teacher, ``task.batch_size`` per request, several
   requests at a time (threads), inside its RPM/TPM budget.
3. Each answer is parsed by the task. Accepted items and final rejections are
   committed to the cache in one transaction per answered request *before* the
   request counts as done, so ``kill -9`` at any moment loses at most the requests
   in flight.
4. Items the answer missed or got wrong are asked again in smaller batches, then
   alone, up to ``max_retries`` times, then quarantined with the last reason.
5. 429s wait for the server's retry-after (and hold back every worker); 5xx and
   timeouts back off exponentially with jitter.
6. A teacher stops, cleanly, when its daily quota is spent (the vendor says so, or
   the ledger counted the day's requests/tokens up to the limit), when a 429 asks
   for a wait longer than ``max_wait_s``, or when the run has spent ``wait_budget_s``
   waiting on 429s. Requests in flight are awaited and committed; what is left goes
   to the next teacher of the chain, or stays *pending* in the result (with when the
   quota resets) for the next run to continue. Nothing sleeps for hours.

The offline backend needs none of this: it asks ``task.offline`` per item.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from darija_assets.llm.backends.offline import OfflineBackend
from darija_assets.llm.base import (
    MALFORMED,
    Accepted,
    Backend,
    BackendUnavailable,
    Completion,
    LLMError,
    LLMTask,
    MalformedAnswer,
    QuotaExhausted,
    RateLimited,
    Rejected,
    TransientError,
    Verdict,
    WorkItem,
    cache_key,
    task_fingerprint,
)
from darija_assets.llm.cache import AnswerCache, CachedAnswer
from darija_assets.llm.limiter import RateLimiter, estimate_tokens
from darija_assets.llm.quotas import QuotaLedger

#: how much of a raw answer a quarantine row keeps (whole answers can be long)
RAW_KEEP_CHARS = 2000
MISSING_ID_REASON = "the answer did not include this id"


@dataclass(frozen=True)
class Stop:
    """Why one teacher stopped before every item was answered."""

    backend: str
    model: str
    reason: str
    #: when the vendor's quota refills (UTC), when known
    resets_at: datetime | None = None


@dataclass
class TaskResult:
    """What a run produced. ``rows`` and ``quarantined`` follow the input order; with
    ``pending`` (item keys nobody answered yet: quotas or the wait budget ran out) they
    hold every input item exactly once."""

    rows: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    stats: dict[str, Any]
    pending: list[str] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def resets_at(self) -> datetime | None:
        """The latest quota reset among the teachers that stopped (when to run again)."""
        known = [s.resets_at for s in self.stops if s.resets_at is not None]
        return max(known) if known else None


class IncompleteRun(LLMError):
    """Some items got no answer at all (the backend kept failing). Everything that
    was answered is committed to the cache: running again continues from there."""

    def __init__(self, message: str, result: TaskResult, unanswered: dict[str, str]):
        super().__init__(message)
        self.result = result
        #: item key -> the last transport error it met
        self.unanswered = unanswered


@dataclass(frozen=True)
class RunOptions:
    """How hard the runner tries; validated when built (a zero budget fails at once).

    - concurrency: requests in flight at once (>= 1)
    - max_retries: further tries of an item after a wrong or missing answer (>= 0)
    - backoff_s, max_backoff_s: exponential backoff after 5xx/timeouts, first step and cap
    - max_transport_retries: transport failures of one batch before its items give up
    - max_rate_limit_waits: 429s of one batch before its items give up
    - max_wait_s: the longest single retry-after the run waits for; a longer one (a
      daily quota) stops the teacher instead of sleeping
    - wait_budget_s: total seconds the run may spend paused by 429s before its teacher
      stops (progress saved, the rest pending)
    - seed: for the backoff jitter (tests)
    - reask_rejected: ask again the items the cache holds content rejections for (a
      label outside the set...); malformed answers are always asked again
    - claim_poll_s: how often to look whether questions another process sharing the
      cache has claimed were answered (or their claim went stale)
    """

    concurrency: int = 4
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_transport_retries: int = 6
    max_rate_limit_waits: int = 1000
    max_wait_s: float = 300.0
    wait_budget_s: float = 1800.0
    seed: int | None = None
    reask_rejected: bool = False
    claim_poll_s: float = 0.5

    def __post_init__(self) -> None:
        if self.claim_poll_s <= 0:
            raise ValueError(f"claim_poll_s must be positive, got {self.claim_poll_s}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        for name in ("max_retries", "max_transport_retries", "max_rate_limit_waits"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("backoff_s", "max_backoff_s", "max_wait_s", "wait_budget_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


@dataclass
class _Question:
    """One distinct question (cache key for one teacher) and every item that asks it."""

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
    total_items: int
    stats: dict[str, Any]
    settled: dict[str, CachedAnswer] = field(default_factory=dict)  # item key -> final answer
    unanswered: dict[str, str] = field(default_factory=dict)  # item key -> last transport error
    answered_items: int = 0  # items settled by this run's requests
    paused_until: float = 0.0  # monotonic time the last 429 pause ends
    waited_s: float = 0.0  # wall seconds paused by 429s, against ``wait_budget_s``
    since_seq: int = 0  # the cache's last write when the run looked: newer answers are a peer's


def run_task(
    task: LLMTask,
    items: Iterable[WorkItem],
    backend: Backend | Sequence[Backend],
    cache: AnswerCache | None,
    *,
    concurrency: int = 4,
    limiter: RateLimiter | None = None,
    ledger: QuotaLedger | None = None,
    max_retries: int = 3,
    log: Callable[[str], None] | None = None,
    on_batch_done: Callable[[dict[str, Any]], None] | None = None,
    backoff_s: float = 1.0,
    max_backoff_s: float = 60.0,
    max_transport_retries: int = 6,
    max_rate_limit_waits: int = 1000,
    max_wait_s: float = 300.0,
    wait_budget_s: float = 1800.0,
    seed: int | None = None,
    reask_rejected: bool = False,
    claim_poll_s: float = 0.5,
) -> TaskResult:
    """Answer ``task`` for every item with ``backend`` (one teacher, or a fallback chain
    tried in order). Options are those of ``RunOptions``.

    ``limiter`` paces every teacher when given; otherwise each teacher gets one from its
    ``limits`` (RPM/TPM). ``ledger`` counts requests and tokens per vendor day and holds
    a teacher back once its RPD/TPD is reached or it was found exhausted until a reset.

    Returns a ``TaskResult``; items nobody could answer because quotas or the wait
    budget ran out are in ``pending`` and ``stops`` says why (answers of the offline
    backend are not cached, so after a chain ended on ``offline`` the next run asks those
    items of the first teacher with quota again). Raises
    ``BackendUnavailable`` when the only teacher is offline and the task has no offline
    form (the caller reports the step as skipped), ``IncompleteRun`` when some items
    could not be answered after ``max_transport_retries`` transport failures of the last
    teacher, and lets any other backend error (bad key, bad request) through after
    committing what was answered.

    ``stats`` keys: items, duplicate_keys, cache_hits, requests_sent, retries,
    rate_limited, transient_errors, accepted, quarantined, pending, input_tokens,
    output_tokens, limiter_wait_s, rate_limit_wait_s, elapsed_s, items_per_s, backend, model,
    answered_by ("groq/llama-3.3-70b-versatile: 40, offline/...: 3"), and
    quota_resets_at (ISO, when a quota stopped a teacher); reasked (items whose cached
    rejection was asked again), claims_waited (items another process sharing the cache
    was asking: this run waited for its answers, counted in cache_hits when they came)
    and claims_taken_over (items whose claim holder was gone).

    ``on_batch_done`` is called after each answered request is committed, with
    task, total_items, done_items, requests_sent, retries, rate_limited (for a
    progress bar or a heartbeat).
    """
    options = RunOptions(
        concurrency=concurrency,
        max_retries=max_retries,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
        max_transport_retries=max_transport_retries,
        max_rate_limit_waits=max_rate_limit_waits,
        max_wait_s=max_wait_s,
        wait_budget_s=wait_budget_s,
        seed=seed,
        reask_rejected=reask_rejected,
        claim_poll_s=claim_poll_s,
    )
    teachers = [backend] if isinstance(backend, Backend) else list(backend)
    if not teachers:
        raise ValueError("run_task needs at least one backend")
    started = time.monotonic()
    unique, duplicates = _dedupe(items)
    stats: dict[str, Any] = {
        "items": len(unique),
        "duplicate_keys": duplicates,
        "cache_hits": 0,
        "requests_sent": 0,
        "retries": 0,
        "rate_limited": 0,
        "transient_errors": 0,
        "accepted": 0,
        "quarantined": 0,
        "pending": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "limiter_wait_s": 0.0,
        "rate_limit_wait_s": 0.0,
        "elapsed_s": 0.0,
        "reasked": 0,
        "claims_waited": 0,
        "claims_taken_over": 0,
        "backend": ",".join(t.name for t in teachers),
        "model": ",".join(t.model for t in teachers),
    }
    say = log or (lambda _msg: None)
    run = _Run(task=task, total_items=len(unique), stats=stats)
    backoff = _Backoff(options.backoff_s, options.max_backoff_s, random.Random(seed))
    stops: list[Stop] = []

    # -- 1. answers any teacher of the chain already gave -----------------------------
    _use_cache(run, teachers, unique, cache, reask_rejected=reask_rejected)

    # -- 2. each teacher in turn asks what is still open ------------------------------
    for position, teacher in enumerate(teachers):
        left = [item for item in unique if item.key not in run.settled]
        if not left:
            break
        run.unanswered.clear()  # a later teacher gets another chance at them
        if isinstance(teacher, OfflineBackend):
            _answer_offline(run, left, sole_teacher=len(teachers) == 1)
            continue
        asker = _Asker(
            run,
            teacher,
            cache,
            options,
            backoff,
            say,
            on_batch_done,
            limiter=limiter,
            ledger=ledger,
            last=position == len(teachers) - 1,
        )
        stop = asker.ask(left)
        if stop is not None:
            stops.append(stop)
            say(
                f"{task.name}: {teacher.name}/{teacher.model} stopped: {stop.reason}"
                + (
                    f" (quota resets {stop.resets_at.isoformat(timespec='minutes')})"
                    if stop.resets_at
                    else ""
                )
            )
        if asker.limiter is not None:
            stats["limiter_wait_s"] += asker.limiter_waited_s

    # -- 3. the result, in input order -------------------------------------------------
    result = _assemble(run, unique, stops)
    stats["elapsed_s"] = round(time.monotonic() - started, 3)
    # items this run's requests settled per second (local generation speed, or a vendor's)
    stats["items_per_s"] = round(run.answered_items / max(stats["elapsed_s"], 1e-9), 2)
    stats["limiter_wait_s"] = round(stats["limiter_wait_s"], 3)
    stats["rate_limit_wait_s"] = round(run.waited_s, 3)
    if run.unanswered:
        causes = Counter(run.unanswered.values())
        raise IncompleteRun(
            f"{len(run.unanswered)} of {len(unique)} items got no answer from "
            f"{teachers[-1].name}; answered ones are cached, run again to continue. Last errors: "
            + "; ".join(f"{n} x {cause}" for cause, n in causes.most_common(3)),
            result,
            dict(run.unanswered),
        )
    say(
        f"{task.name}: done, {stats['accepted']} accepted, {stats['quarantined']} quarantined, "
        f"{stats['pending']} pending, {stats['requests_sent']} requests, "
        f"{stats['cache_hits']} cache hits"
    )
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


def _answer_offline(run: _Run, items: list[WorkItem], *, sole_teacher: bool) -> None:
    task = run.task
    if sole_teacher:
        run.stats["backend"], run.stats["model"] = task.offline_backend, task.offline_model
    for item in items:
        started = time.monotonic()
        verdict = task.offline(item)
        if verdict is None:
            if sole_teacher:
                raise BackendUnavailable(
                    f"task {task.name!r} has no offline form: set GEMINI_API_KEY or "
                    "GROQ_API_KEY, an openai base_url, or DARIJA_LOCAL_MODEL for a local model"
                )
            return  # the items stay pending: a later run with quota left answers them
        run.settled[item.key] = CachedAnswer(
            cache_key="",
            task=task.name,
            prompt_version=f"{task.name}-offline",
            backend=task.offline_backend,
            model=task.offline_model,
            verdict=verdict,
            latency_s=time.monotonic() - started,
        )


def _group_questions(
    task: LLMTask, backend: Backend, items: list[WorkItem]
) -> dict[str, _Question]:
    questions: dict[str, _Question] = {}
    for item in items:
        key = cache_key(backend.name, backend.model, task, item)
        if key in questions:
            questions[key].items.append(item)
        else:
            questions[key] = _Question(cache_key=key, items=[item])
    return questions


def _use_cache(
    run: _Run,
    teachers: list[Backend],
    items: list[WorkItem],
    cache: AnswerCache | None,
    *,
    reask_rejected: bool,
) -> None:
    """Settle every item some teacher of the chain already answered (the first teacher
    that did wins), so a chain never pays twice for what another member answered.
    Stored rejections that are not ``reusable`` (malformed answers; content rejections
    with ``reask_rejected``) leave their items open, to be asked again."""
    if cache is None:
        return
    # Read before the lookup: anything written later was answered during this run.
    run.since_seq = cache.last_seq()
    reasked: set[str] = set()
    for teacher in teachers:
        if isinstance(teacher, OfflineBackend):
            continue
        open_items = [item for item in items if item.key not in run.settled]
        if not open_items:
            return
        questions = _group_questions(run.task, teacher, open_items)
        for key, answer in cache.get_many(questions).items():
            if not answer.reusable(reask_rejected):
                reasked.update(item.key for item in questions[key].items)
                continue
            for item in questions[key].items:
                run.settled[item.key] = answer
            run.stats["cache_hits"] += len(questions[key].items)
    run.stats["reasked"] = len(reasked - run.settled.keys())


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


class _Asker:
    """One teacher's part of a run: send batches, judge answers, retry, or stop.

    ``ask`` is the loop; each kind of event has its own method below, so a change to
    how 429s, transport faults or answers are handled lands in one visible place.
    """

    def __init__(
        self,
        run: _Run,
        teacher: Backend,
        cache: AnswerCache | None,
        options: RunOptions,
        backoff: _Backoff,
        say: Callable[[str], None],
        on_batch_done: Callable[[dict[str, Any]], None] | None,
        *,
        limiter: RateLimiter | None,
        ledger: QuotaLedger | None,
        last: bool,
    ):
        self.run, self.teacher, self.cache, self.options = run, teacher, cache, options
        self.backoff, self.say, self.on_batch_done = backoff, say, on_batch_done
        self.ledger, self.last = ledger, last
        limits = teacher.limits
        self.limiter = limiter or (
            RateLimiter(rpm=limits.rpm, tpm=limits.tpm, max_concurrency=options.concurrency)
            if limits.rpm or limits.tpm
            else None
        )
        self._limiter_waited_before = self.limiter.waited_s if self.limiter is not None else 0.0
        self.size = max(1, run.task.batch_size)
        self.queue: deque[_Batch] = deque()
        self.in_flight: dict[Future, list[_Batch]] = {}
        self.stop: Stop | None = None
        # Claims in the shared cache: what this teacher holds, and the questions another
        # process holds (cache key -> question), looked at again every claim_poll_s.
        self.claimed: set[str] = set()
        self.waiting: dict[str, _Question] = {}
        self.waited: set[str] = set()
        self.next_poll = 0.0

    @property
    def limiter_waited_s(self) -> float:
        """This teacher's waiting in the limiter (a given limiter may be shared)."""
        return self.limiter.waited_s - self._limiter_waited_before if self.limiter else 0.0

    # -- the loop ----------------------------------------------------------------------
    def ask(self, items: list[WorkItem]) -> Stop | None:
        """Ask about ``items``; return why the teacher stopped early, or ``None``."""
        questions = list(_group_questions(self.run.task, self.teacher, items).values())
        self.queue.extend(
            _Batch(questions[i : i + self.size]) for i in range(0, len(questions), self.size)
        )
        self.say(
            f"{self.run.task.name}: {len(items)} items left, {len(questions)} questions "
            f"to ask {self.teacher.name}/{self.teacher.model}"
        )
        pool = ThreadPoolExecutor(
            max_workers=self.options.concurrency, thread_name_prefix=f"llm-{self.run.task.name}"
        )
        last_log = time.monotonic()
        try:
            while self.in_flight or ((self.queue or self.waiting) and self.stop is None):
                self._poll_claims()
                self._fill_slots(pool)
                if not self.in_flight:
                    if self.stop is None and (self.queue or self.waiting):
                        time.sleep(self._wait_timeout() or 0.0)
                    continue
                done, _ = wait(
                    self.in_flight, timeout=self._wait_timeout(), return_when=FIRST_COMPLETED
                )
                for future in done:
                    self._on_done(future, self.in_flight.pop(future))
                if time.monotonic() - last_log >= 5.0:
                    last_log = time.monotonic()
                    self._log_progress()
        finally:
            # On a fatal error do not wait for requests in flight: their answers were
            # never committed, so a rerun asks them again.
            pool.shutdown(wait=False, cancel_futures=True)
            # Answered keys were released as they were stored; the rest (given up,
            # stopped, or a fatal error) are free for another process to ask now.
            if self.cache is not None and self.claimed:
                self.cache.release(self.claimed)
        return self.stop

    def _fill_slots(self, pool: ThreadPoolExecutor) -> None:
        """Submit ready batches while a slot is free, unless the teacher must stop."""
        per_call = max(1, self.teacher.prompts_per_call)
        while self.stop is None and len(self.in_flight) < self.options.concurrency:
            now = time.monotonic()
            ready = [b for b in self.queue if b.not_before <= now][:per_call]
            if not ready:
                return
            if self._quota_spent():
                return
            for b in ready:
                self.queue.remove(b)
            ready = [b for b in ready if self._claim(b)]
            if not ready:
                continue
            self.run.stats["requests_sent"] += len(ready)
            self.in_flight[pool.submit(self._send, ready)] = ready

    def _wait_timeout(self) -> float | None:
        """With every slot busy only a finished request can change anything; with a free
        slot, the next batch whose backoff ends can, or the next look at the questions
        another process is asking."""
        if len(self.in_flight) >= self.options.concurrency or self.stop:
            return None
        wakes = [b.not_before for b in self.queue] + ([self.next_poll] if self.waiting else [])
        return max(0.0, min(wakes) - time.monotonic()) if wakes else None

    # -- claims in a shared cache ----------------------------------------------------------
    def _claim(self, batch: _Batch) -> bool:
        """Claim the batch's questions before sending it; keep only those this run now
        holds. A question a peer answered meanwhile is settled with that answer; one a
        live peer is asking waits for it. Returns whether anything is left to send."""
        if self.cache is None:
            return True
        found = self.cache.claim(
            [q.cache_key for q in batch.questions], since_seq=self.run.since_seq
        )
        self.claimed.update(found.mine)
        if found.taken_over:
            self.run.stats["claims_taken_over"] += len(found.taken_over)
            self.say(
                f"{self.run.task.name}: took over {len(found.taken_over)} questions "
                f"claimed by {', '.join(sorted(set(found.taken_over.values())))} (gone)"
            )
        for q in batch.questions:
            if q.cache_key in found.answered:
                for item in q.items:
                    self.run.settled[item.key] = found.answered[q.cache_key]
                self.run.stats["cache_hits"] += len(q.items)
            elif q.cache_key in found.held:
                if not self.waited:
                    self.say(
                        f"{self.run.task.name}: waiting for questions another process "
                        f"is asking ({found.held[q.cache_key]})"
                    )
                if q.cache_key not in self.waited:
                    self.waited.add(q.cache_key)
                    self.run.stats["claims_waited"] += len(q.items)
                self.waiting[q.cache_key] = q
        if found.held:
            self.next_poll = max(self.next_poll, time.monotonic() + self.options.claim_poll_s)
        mine = set(found.mine)
        batch.questions = [q for q in batch.questions if q.cache_key in mine]
        return bool(batch.questions)

    def _poll_claims(self) -> None:
        """Every claim_poll_s: take the answers peers stored, and queue the questions
        whose claim was released or went stale."""
        if not self.waiting or time.monotonic() < self.next_poll:
            return
        batch = _Batch(list(self.waiting.values()))
        self.waiting.clear()
        if self._claim(batch):
            qs = batch.questions
            self.queue.extend(_Batch(qs[i : i + self.size]) for i in range(0, len(qs), self.size))

    def _send(self, batches: list[_Batch]) -> list[Completion]:
        """One call to the backend (in a worker thread), inside the limiter's budget."""
        task = self.run.task
        prompts = [task.build_prompt([q.asked for q in b.questions]) for b in batches]
        if self.limiter is None:
            return self.teacher.complete_many(prompts)
        # Budget input plus a comparable amount of output: vendors count both in TPM.
        tokens = sum(estimate_tokens(p.system + p.user) * 3 // 2 for p in prompts)
        with self.limiter.slot(tokens, requests=len(prompts)):
            return self.teacher.complete_many(prompts)

    def _on_done(self, future: Future, batches: list[_Batch]) -> None:
        try:
            completions = future.result()
        except RateLimited as exc:
            self._on_rate_limited(batches, exc)
        except TransientError as exc:
            self._on_transport_error(batches, exc)
        else:
            self._on_answers(batches, completions)

    # -- events ------------------------------------------------------------------------
    def _on_rate_limited(self, batches: list[_Batch], exc: RateLimited) -> None:
        """429: wait as told, unless that is a daily quota, a wait longer than
        ``max_wait_s``, or beyond the run's wait budget; then stop this teacher."""
        stats, opts = self.run.stats, self.options
        stats["rate_limited"] += len(batches)
        for b in batches:  # not a try: the batch goes back to the queue either way
            self.queue.appendleft(b)
        if isinstance(exc, QuotaExhausted):
            resets_at = exc.resets_at or _after(exc.retry_after_s)
            if self.ledger is not None and resets_at is not None:
                self.ledger.mark_exhausted(
                    self.teacher.name, self.teacher.model, str(exc), resets_at
                )
            return self._stop(f"daily quota exhausted: {exc}", resets_at)
        if exc.retry_after_s is not None and exc.retry_after_s > opts.max_wait_s:
            return self._stop(
                f"the server asked to wait {exc.retry_after_s:.0f} s, more than max_wait_s "
                f"{opts.max_wait_s:.0f} s: {exc}",
                _after(exc.retry_after_s),
            )
        for b in batches:
            b.rate_limit_waits += 1
            if b.rate_limit_waits > opts.max_rate_limit_waits:
                self.queue.remove(b)
                self._give_up(b, f"rate limited {b.rate_limit_waits} times: {exc}")
                continue
            delay = self.backoff.after_rate_limit(exc.retry_after_s, b.rate_limit_waits)
            self._pause(delay)
            b.not_before = time.monotonic() + delay
            stats["retries"] += 1
        if self.run.waited_s > opts.wait_budget_s:
            self._stop(
                f"waited {self.run.waited_s:.1f} s on 429s, over the wait budget of "
                f"{opts.wait_budget_s:g} s: {exc}",
                _after(exc.retry_after_s),
            )

    def _on_transport_error(self, batches: list[_Batch], exc: TransientError) -> None:
        """5xx, timeouts, refused connections: back off exponentially, then give up."""
        self.run.stats["transient_errors"] += len(batches)
        for b in batches:
            b.transport_failures += 1
            if b.transport_failures > self.options.max_transport_retries:
                self._give_up(b, f"{b.transport_failures} transport failures, last: {exc}")
                continue
            self.run.stats["retries"] += 1
            b.not_before = time.monotonic() + self.backoff.after_failure(b.transport_failures)
            self.queue.appendleft(b)

    def _on_answers(self, batches: list[_Batch], completions: list[Completion]) -> None:
        """Judge and commit each answer; queue what must be asked again."""
        for b, completion in zip(batches, completions):
            if self.ledger is not None:
                tokens = (completion.input_tokens or 0) + (completion.output_tokens or 0)
                self.ledger.record(
                    self.teacher.name,
                    self.teacher.model,
                    requests=1,
                    tokens=tokens,
                    report=completion.quota,
                )
            retry = _judge(
                self.run, self.teacher, b, completion, self.cache, self.options.max_retries
            )
            again = _retry_batches(retry, self.size, self.options.max_retries)
            self.queue.extend(again)
            self.run.stats["retries"] += len(again)
            if self.on_batch_done is not None:
                self.on_batch_done(_progress(self.run))

    # -- stopping and giving up ------------------------------------------------------------
    def _quota_spent(self) -> bool:
        """Whether the ledger says today's quota is gone (then the teacher stops)."""
        if self.ledger is None:
            return False
        spent = self.ledger.exhausted(self.teacher.name, self.teacher.model, self.teacher.limits)
        if spent is not None:
            self._stop(f"daily quota reached: {spent[0]}", spent[1])
        return spent is not None

    def _stop(self, reason: str, resets_at: datetime | None) -> None:
        if self.stop is None:
            self.stop = Stop(self.teacher.name, self.teacher.model, reason, resets_at)

    def _pause(self, delay: float) -> None:
        """Hold every worker back for ``delay`` and count the wall time it adds."""
        now = time.monotonic()
        until = now + delay
        self.run.waited_s += max(0.0, until - max(now, self.run.paused_until))
        self.run.paused_until = max(self.run.paused_until, until)
        if self.limiter is not None:
            self.limiter.pause_for(delay)

    def _give_up(self, batch: _Batch, reason: str) -> None:
        """A batch's items got no answer from this teacher; the next one may try."""
        for q in batch.questions:
            for item in q.items:
                self.run.unanswered[item.key] = reason

    def _log_progress(self) -> None:
        p, stats = _progress(self.run), self.run.stats
        self.say(
            f"{self.run.task.name}: {p['done_items']}/{p['total_items']} items done, "
            f"{stats['requests_sent']} requests, {stats['retries']} retries, "
            f"{stats['rate_limited']} rate limited"
        )


def _after(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.now(timezone.utc) + timedelta(seconds=seconds)


def _judge(
    run: _Run,
    backend: Backend,
    batch: _Batch,
    completion: Completion,
    cache: AnswerCache | None,
    max_retries: int,
) -> list[_Question]:
    """Validate one answer, commit its final verdicts, return the questions to ask again."""
    task, stats = run.task, run.stats
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

    settled: list[tuple[_Question, CachedAnswer]] = []
    retry: list[_Question] = []
    for q in batch.questions:
        verdict = verdicts.get(q.asked.key) or Rejected(
            reason=missing_reason, raw=raw_answer, cause=MALFORMED
        )
        if isinstance(verdict, Rejected):
            q.tries += 1
            if q.tries <= max_retries:
                retry.append(q)
                continue
            verdict = Rejected(
                reason=verdict.reason, raw=verdict.raw or raw_answer, cause=verdict.cause
            )
        settled.append(
            (
                q,
                CachedAnswer(
                    cache_key=q.cache_key,
                    task=task.name,
                    prompt_version=task_fingerprint(task, q.asked),
                    backend=backend.name,
                    model=completion.model or backend.model,
                    verdict=verdict,
                    latency_s=completion.latency_s,
                    input_tokens=share_in,
                    output_tokens=share_out,
                ),
            )
        )
    # The durable step: once this commit returns, a kill -9 cannot lose these answers.
    if cache is not None:
        cache.put_many(answer for _q, answer in settled)
    for q, answer in settled:
        for item in q.items:
            run.settled[item.key] = answer
        run.answered_items += len(q.items)
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


def _assemble(run: _Run, items: list[WorkItem], stops: list[Stop]) -> TaskResult:
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    pending: list[str] = []
    answered_by: dict[str, int] = {}
    for item in items:
        settled = run.settled.get(item.key)
        if settled is None:
            if item.key not in run.unanswered:
                pending.append(item.key)
            continue
        _emit(item, settled, rows, quarantined, run.stats)
        teacher = f"{settled.backend}/{settled.model}"
        answered_by[teacher] = answered_by.get(teacher, 0) + 1
    run.stats["pending"] = len(pending)
    run.stats["answered_by"] = ", ".join(f"{k}: {v}" for k, v in answered_by.items())
    resets = [s.resets_at for s in stops if s.resets_at is not None]
    if pending and resets:
        run.stats["quota_resets_at"] = max(resets).isoformat(timespec="seconds")
    return TaskResult(
        rows=rows, quarantined=quarantined, stats=run.stats, pending=pending, stops=stops
    )


def _emit(
    item: WorkItem, answer: CachedAnswer, rows: list, quarantined: list, stats: dict[str, Any]
) -> None:
    common = {
        "backend": answer.backend,
        "model": answer.model,
        "prompt_version": answer.prompt_version,
    }
    if isinstance(answer.verdict, Accepted):
        stats["accepted"] += 1
        rows.append(
            {
                "key": item.key,
                **answer.verdict.value,
                **common,
                "latency_s": round(answer.latency_s, 4),
                "raw_answer": answer.verdict.raw,
            }
        )
    else:
        stats["quarantined"] += 1
        quarantined.append(
            {"key": item.key, "reason": answer.verdict.reason, "raw": answer.verdict.raw, **common}
        )
