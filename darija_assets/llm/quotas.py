"""Vendor limits per teacher, and a ledger of what today's quota has left.

Free tiers meter per minute *and* per day. Per-minute limits pace requests (the
``RateLimiter``); per-day limits cannot be waited out inside a step, so reaching one
ends the step cleanly and the next run continues (``runner.run_task``).

Default limits (free tiers; override any of them in the LLM resource's config):

=====================  =========================  ====  =========  ======  =======
backend                model                      RPM   TPM        RPD     TPD
=====================  =========================  ====  =========  ======  =======
gemini                 gemini-2.5-flash           10    250,000    250     --
gemini                 gemini-2.0-flash           15    1,000,000  1,500   --
groq                   llama-3.3-70b-versatile    30    12,000     1,000   100,000
groq                   llama-3.1-8b-instant       30    6,000      14,400  500,000
openai (any server)    any                        --    --         --      --
=====================  =========================  ====  =========  ======  =======

Sources, read 2026-12-06 through the stored copies available here (no live network):
Gemini, https://ai.google.dev/gemini-api/docs/rate-limits ("Requests per day (RPD)
quotas reset at midnight Pacific time"; the free-tier table as published in 2025; Google
now sends projects to AI Studio for the live figures, so treat these as a ceiling).
Groq, https://console.groq.com/docs/rate-limits (free plan, per model and organization;
no reset hour is published: its ``x-ratelimit-reset-requests`` header says how long).
An OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp) has whatever limits its
operator set: none by default here.

The ledger is a small JSON file beside the answer cache. It counts the requests and
tokens *this machine* sent per vendor day and keeps the last quota the vendor reported
in response headers, and when a daily quota was found exhausted until. Other clients of
the same vendor project spend the same quota without this ledger knowing, and two
processes writing the file at once can lose a few counts: the vendor's own 429 stays the
final word.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from darija_assets.llm.base import Limits, QuotaReport

_GEMINI_SOURCE = "ai.google.dev/gemini-api/docs/rate-limits, free tier (read 2026-12-06)"
_GROQ_SOURCE = "console.groq.com/docs/rate-limits, free plan (read 2026-12-06)"

#: (backend, model) -> free-tier limits; ``(backend, "*")`` is the vendor's fallback
VENDOR_LIMITS: dict[tuple[str, str], Limits] = {
    ("gemini", "gemini-2.5-flash"): Limits(rpm=10, tpm=250_000, rpd=250, source=_GEMINI_SOURCE),
    ("gemini", "gemini-2.0-flash"): Limits(rpm=15, tpm=1_000_000, rpd=1_500, source=_GEMINI_SOURCE),
    ("gemini", "*"): Limits(rpm=10, tpm=250_000, rpd=250, source=_GEMINI_SOURCE),
    ("groq", "llama-3.3-70b-versatile"): Limits(
        rpm=30, tpm=12_000, rpd=1_000, tpd=100_000, source=_GROQ_SOURCE
    ),
    ("groq", "llama-3.1-8b-instant"): Limits(
        rpm=30, tpm=6_000, rpd=14_400, tpd=500_000, source=_GROQ_SOURCE
    ),
    ("groq", "*"): Limits(rpm=30, tpm=6_000, rpd=1_000, tpd=100_000, source=_GROQ_SOURCE),
}
_NO_LIMITS = Limits(source="none known (local model or self-hosted server)")
#: where each vendor's day starts over (Gemini: midnight Pacific, per its docs; others: UTC)
_DAY_ZONE = {"gemini": ZoneInfo("America/Los_Angeles")}


def vendor_limits(backend: str, model: str) -> Limits:
    """The documented free-tier limits of ``model`` on ``backend``, else no limits."""
    return VENDOR_LIMITS.get((backend, model)) or VENDOR_LIMITS.get((backend, "*")) or _NO_LIMITS


def with_overrides(limits: Limits, **overrides: float | None) -> Limits:
    """``limits`` with the given fields replaced: a positive number sets a limit, 0 removes
    it, ``None`` keeps the vendor default."""
    changed = {k: (None if v == 0 else v) for k, v in overrides.items() if v is not None}
    if not changed:
        return limits
    return Limits(**{**asdict(limits), **changed, "source": "config"})


def vendor_day(backend: str, now: datetime | None = None) -> str:
    """The vendor's current quota day, ``YYYY-MM-DD`` in its own time zone."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(_DAY_ZONE.get(backend, timezone.utc)).date().isoformat()


def next_day_start(backend: str, now: datetime | None = None) -> datetime:
    """When the vendor's daily quotas reset next, in UTC."""
    zone = _DAY_ZONE.get(backend, timezone.utc)
    local = (now or datetime.now(timezone.utc)).astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return midnight.astimezone(timezone.utc)


@dataclass
class TeacherUsage:
    """One teacher's day as the ledger saw it."""

    day: str = ""
    requests: int = 0
    tokens: int = 0
    #: ISO time (UTC) until which a daily quota is known to be used up, or ""
    exhausted_until: str = ""
    exhausted_reason: str = ""
    #: the last ``QuotaReport`` the vendor sent, and when (ISO, UTC)
    reported: dict[str, Any] | None = None
    reported_at: str = ""


class QuotaLedger:
    """Per-teacher daily usage in a JSON file (atomic writes), shared by the steps of
    one data directory. ``QuotaLedger(None)`` keeps it in memory only. ``clock`` gives
    the current UTC time (injectable, so tests can let a quota day pass)."""

    def __init__(
        self,
        path: str | Path | None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.path = Path(path) if path is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._usage: dict[str, TeacherUsage] = {}
        if self.path is not None and self.path.exists():
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self._usage = {k: TeacherUsage(**v) for k, v in raw.items()}

    @staticmethod
    def teacher_id(backend: str, model: str) -> str:
        return f"{backend}/{model}"

    def usage(self, backend: str, model: str) -> TeacherUsage:
        """Today's usage (a new day starts at zero, keeping the last vendor report)."""
        with self._lock:
            return self._today(backend, model)

    def _today(self, backend: str, model: str) -> TeacherUsage:
        key = self.teacher_id(backend, model)
        usage = self._usage.setdefault(key, TeacherUsage())
        day = vendor_day(backend, self._clock())
        if usage.day != day:
            usage.day, usage.requests, usage.tokens = day, 0, 0
        return usage

    def exhausted(self, backend: str, model: str, limits: Limits) -> tuple[str, datetime] | None:
        """(reason, resets_at) when today's quota is known to be spent, else ``None``."""
        now = self._clock()
        with self._lock:
            usage = self._today(backend, model)
            if usage.exhausted_until and datetime.fromisoformat(usage.exhausted_until) > now:
                return usage.exhausted_reason, datetime.fromisoformat(usage.exhausted_until)
            if limits.rpd is not None and usage.requests >= limits.rpd:
                return (
                    f"{usage.requests} requests sent today, the limit is {limits.rpd} per day",
                    next_day_start(backend, now),
                )
            if limits.tpd is not None and usage.tokens >= limits.tpd:
                return (
                    f"{usage.tokens} tokens used today, the limit is {limits.tpd} per day",
                    next_day_start(backend, now),
                )
        return None

    def record(
        self,
        backend: str,
        model: str,
        *,
        requests: int,
        tokens: int,
        report: QuotaReport | None = None,
    ) -> None:
        with self._lock:
            usage = self._today(backend, model)
            usage.requests += requests
            usage.tokens += tokens
            if report is not None:
                usage.reported = asdict(report)
                usage.reported_at = _iso(self._clock())
            self._save()

    def mark_exhausted(self, backend: str, model: str, reason: str, resets_at: datetime) -> None:
        with self._lock:
            usage = self._today(backend, model)
            usage.exhausted_until, usage.exhausted_reason = _iso(resets_at), reason
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{time.monotonic_ns()}")
        tmp.write_text(
            json.dumps({k: asdict(v) for k, v in self._usage.items()}, indent=1), encoding="utf-8"
        )
        os.replace(tmp, self.path)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
