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
        return json.dumps({"text": self.text, "extra": self.extra}, ensure_ascii=False, sort_keys=True)


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
class Completion:
    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float = 0.0


@dataclass(frozen=True)
class Accepted:
    """A validated answer for one item. ``value`` is what lands in the table;
    ``raw`` keeps the model's words when they had to be repaired."""

    value: dict[str, Any]
    raw: str | None = None


@dataclass(frozen=True)
class Rejected:
    """An answer that failed validation, with the reason a person can read."""

    reason: str
    raw: str | None = None


Verdict = Accepted | Rejected


class LLMTask(ABC):
    """What to ask and how to judge the answer. Subclasses are small and pure."""

    #: short name, used in cache keys, work logs and metadata ("labels", "pairs", ...)
    name: str
    #: bump whenever the prompt or validation changes meaning: old cached answers stop matching
    prompt_version: str
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


class Backend(ABC):
    """Turns one prompt into one completion. Raises ``RateLimited`` or
    ``TransientError`` for faults the runner should retry."""

    #: recorded in every row: "gemini", "groq", "transformers", "offline"
    name: str
    #: the model id the backend talks to, also recorded in every row
    model: str
    #: how many prompts one ``complete_many`` call should carry (local batched generation)
    prompts_per_call: int = 1

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


class TransientError(LLMError):
    """5xx, timeouts, dropped connections: worth another try."""


class BackendUnavailable(LLMError):
    """No key, no SDK, no local model: the backend cannot be used at all."""


class MalformedAnswer(LLMError):
    """Raised by ``LLMTask.parse`` when the answer as a whole is unusable (not JSON,
    wrong shape); the message becomes the retry / quarantine reason of every item."""


def cache_key(backend: str, model: str, task: LLMTask, item: WorkItem) -> str:
    """Content hash of (backend, model, task, prompt version, input): the same
    question is never paid for twice, whichever partition or run asks it."""
    payload = f"{backend}\x1f{model}\x1f{task.name}\x1f{task.prompt_version}\x1f{item.content()}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
