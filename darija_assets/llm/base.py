"""The contract between LLM tasks (what to ask) and backends (who answers).

A *task* (emotion labels, therapy pairs, translations) owns its prompt, its answer
schema and its validation. A *backend* (gemini, groq, transformers, offline) turns
one prompt into one completion. The runner (``runner.py``) joins them: it batches
work items, consults the answer cache, rate-limits, retries, validates and
quarantines. Nothing here imports an SDK or Dagster.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class WorkItem:
    """One unit of work: a sentence to label, a pair to write, a text to translate.

    ``key`` is the item's stable id in its table (sentence id, pair id). ``text`` is
    what the model reads. ``extra`` carries task inputs that change the answer
    (emotion, style) and therefore take part in the cache key.
    """

    key: str
    text: str
    extra: dict[str, Any] = field(default_factory=dict)

    def content(self) -> str:
        return json.dumps(
            {"text": self.text, "extra": self.extra}, ensure_ascii=False, sort_keys=True
        )


@dataclass(frozen=True)
class Prompt:
    """What a backend sends: a system instruction, a user message, and the JSON
    schema the answer must follow (``None`` for free text)."""

    system: str
    user: str
    response_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_output_tokens: int = 2048


@dataclass(frozen=True)
class QuotaReport:
    """What the vendor said is left, from response headers (Groq and many OpenAI-compatible
    servers send ``x-ratelimit-remaining-requests`` / ``-tokens`` and ``x-ratelimit-reset-*``).
    ``None`` where the vendor did not say; Gemini reports nothing of the kind."""

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None
    #: seconds until the request allowance is refilled, as the vendor counts it
    reset_requests_s: float | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0
    quota: QuotaReport | None = None


@dataclass(frozen=True)
class Accepted:
    """A validated answer for one item. ``value`` is what lands in the table;
    ``raw`` keeps the model's words when they had to be repaired."""

    value: dict[str, Any]
    raw: str | None = None


#: why an item was rejected, which decides whether a later run asks again:
#: the model's judgement of this item failed validation (kept; re-asked only on request)
CONTENT = "content"
#: the answer as a whole was unusable (not JSON, wrong shape, this id missing): asked again
MALFORMED = "malformed"
#: no answer arrived (rate limits, server errors, timeouts): asked again
TRANSPORT = "transport"
REJECTION_CAUSES = (CONTENT, MALFORMED, TRANSPORT)


@dataclass(frozen=True)
class Rejected:
    """An answer that failed validation, with the reason a person can read.

    ``cause`` is one of ``REJECTION_CAUSES``; tasks leave it at ``CONTENT`` (their
    validation judged the item), the runner sets ``MALFORMED`` / ``TRANSPORT``.
    """

    reason: str
    raw: str | None = None
    cause: str = CONTENT


Verdict = Accepted | Rejected


class LLMTask(ABC):
    """What to ask and how to judge the answer. Subclasses are small and pure.

    There is no hand-kept prompt version: ``task_fingerprint`` hashes what the task
    actually sends (system text, schema, temperature), its judging settings and the
    answer parser's version, so any change of wording or rules is a new question.
    """

    #: short name, used in cache keys, work logs and metadata ("labels", "pairs", ...)
    name: str
    #: how many items one request carries (the runner may shrink it on retries)
    batch_size: int = 25

    @abstractmethod
    def build_prompt(self, items: list[WorkItem]) -> Prompt:
        """One prompt asking about all ``items`` at once, each identified by its key."""

    #: what rows answered by ``offline`` record as backend and model
    offline_backend: str = "offline"
    offline_model: str = "offline"

    @abstractmethod
    def parse(self, completion_text: str, items: list[WorkItem]) -> dict[str, Verdict]:
        """Map each item key to a verdict. Keys the answer did not cover are simply
        absent (the runner retries them). Malformed text yields an empty dict, or
        better raises ``MalformedAnswer`` with a reason the quarantine can show."""

    def offline(self, item: WorkItem) -> Verdict | None:
        """The honest no-network answer, or ``None`` when the task has none
        (translation), in which case the step reports itself skipped."""
        return None

    def judging_settings(self) -> dict[str, Any]:
        """Every public setting of the task except the batch size (label set, length
        bounds, script shares, instruction...): they change which answers are accepted,
        so they take part in the fingerprint. New settings are covered automatically."""
        return {
            k: v
            for k, v in sorted(vars(self).items())
            if not k.startswith("_") and k != "batch_size"
        }


@dataclass(frozen=True)
class Limits:
    """A teacher's allowance: requests and tokens per minute and per day (``None``: no limit).

    Per-minute limits pace requests (``limiter.RateLimiter``); per-day limits end a
    step cleanly when reached (``quotas.QuotaLedger``). ``source`` says where the
    numbers come from (a vendor page and the date it was read, or "config")."""

    rpm: float | None = None
    tpm: float | None = None
    rpd: int | None = None
    tpd: int | None = None
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "rpd", "tpd"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None (no limit), got {value!r}")


class Backend(ABC):
    """Turns one prompt into one completion. Raises ``RateLimited`` (``QuotaExhausted``
    for a daily quota) or ``TransientError`` for faults the runner should retry."""

    #: recorded in every row: "gemini", "groq", "openai", "transformers", "offline"
    name: str
    #: the model id the backend talks to, also recorded in every row
    model: str
    #: how many prompts one ``complete_many`` call should carry (local batched generation)
    prompts_per_call: int = 1
    #: the vendor's limits for this model (see ``quotas.vendor_limits``), or none known
    limits: Limits = Limits()
    #: where requests go (for error messages and ``darija-assets teachers``; never a key)
    endpoint: str = ""

    @abstractmethod
    def complete(self, prompt: Prompt) -> Completion: ...

    def complete_many(self, prompts: list[Prompt]) -> list[Completion]:
        """Backends that batch natively (local transformers) override this."""
        return [self.complete(p) for p in prompts]


class LLMError(Exception):
    pass


class RateLimited(LLMError):
    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExhausted(RateLimited):
    """A daily (or longer) quota is used up: waiting inside the step is pointless.
    ``resets_at`` is when the vendor says it refills (UTC), when known."""

    def __init__(
        self, message: str, retry_after_s: float | None = None, resets_at: datetime | None = None
    ):
        super().__init__(message, retry_after_s)
        self.resets_at = resets_at


class TransientError(LLMError):
    """5xx, timeouts, dropped connections: worth another try."""


class BackendUnavailable(LLMError):
    """No key, no SDK, no local model: the backend cannot be used at all."""


class MalformedAnswer(LLMError):
    """Raised by ``LLMTask.parse`` when the answer as a whole is unusable (not JSON,
    wrong shape); the message becomes the retry / quarantine reason of every item."""


def task_fingerprint(task: LLMTask, item: WorkItem) -> str:
    """``<task>-<12 hex>``: a hash of what ``task`` sends about ``item`` apart from the
    item itself (system text, schema, temperature), its judging settings and the
    answer parser's version. Recorded as ``prompt_version`` in every row."""
    from darija_assets.llm.tasks.text_checks import PARSER_VERSION

    prompt = task.build_prompt([item])
    payload = json.dumps(
        [
            task.name,
            PARSER_VERSION,
            prompt.system,
            prompt.response_schema,
            prompt.temperature,
            repr(task.judging_settings()),
        ],
        ensure_ascii=False,
        sort_keys=True,
    )
    return f"{task.name}-{hashlib.sha256(payload.encode('utf-8')).hexdigest()[:12]}"


def cache_key(backend: str, model: str, task: LLMTask, item: WorkItem) -> str:
    """Content hash of (backend, model, the task's fingerprint, the user message sent
    for ``item``, the item's content): the same question is never paid for twice,
    whichever partition or run asks it, and a changed prompt is a new question."""
    user = task.build_prompt([item]).user
    payload = "\x1f".join([backend, model, task_fingerprint(task, item), user, item.content()])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
