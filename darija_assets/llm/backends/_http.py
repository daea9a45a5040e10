"""What the HTTP backends share: transport faults worth another try (whichever httpx
flavour an SDK runs on: google-genai uses ``httpx2`` when it is installed, groq and
openai use ``httpx``), readable causes for them, ``retry-after`` and quota headers,
and telling a daily-quota 429 from a per-minute one."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from darija_assets.llm.base import (
    Completion,
    LLMError,
    QuotaExhausted,
    QuotaReport,
    RateLimited,
    TransientError,
)


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [httpx.TransportError]
    try:
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()
#: a 429 asking to wait longer than this is a quota window (hours, a day), not a burst
LONG_RETRY_AFTER_S = 600.0
#: how vendors name a daily quota in a 429's message (Groq: "requests per day (RPD)",
#: "tokens per day (TPD)"; Gemini's quota ids: "...PerDayPerProjectPerModel-FreeTier")
_DAILY_WORDS = re.compile(r"per ?day|\bRPD\b|\bTPD\b|daily", re.IGNORECASE)
# Groq and OpenAI write durations as "2m59.56s", "6m0s", "1h2m3s", "120ms".
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+(?:\.\d+)?)ms)?$"
)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` header (delta-seconds form; vendors also send
    fractional values such as ``1.5``). HTTP-dates are rare here and ignored."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_duration(value: str | None) -> float | None:
    """Seconds from ``"2m59.56s"`` / ``"1h2m3s"`` / ``"120ms"`` / ``"7.66"``, else None."""
    if not value:
        return None
    plain = parse_retry_after(value)
    if plain is not None:
        return plain
    match = _DURATION.match(value.strip())
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["h"] * 3600 + parts["m"] * 60 + parts["s"] + parts["ms"] / 1000


def quota_report(headers: Mapping[str, str]) -> QuotaReport | None:
    """The ``x-ratelimit-*`` headers Groq and OpenAI-compatible servers send, if any.
    On Groq, the ``-requests`` pair is the per-day request allowance and ``-tokens``
    the per-minute token allowance (console.groq.com/docs/rate-limits)."""

    def number(name: str) -> int | None:
        value = headers.get(name)
        try:
            return int(float(value)) if value is not None else None
        except ValueError:
            return None

    report = QuotaReport(
        remaining_requests=number("x-ratelimit-remaining-requests"),
        remaining_tokens=number("x-ratelimit-remaining-tokens"),
        limit_requests=number("x-ratelimit-limit-requests"),
        limit_tokens=number("x-ratelimit-limit-tokens"),
        reset_requests_s=parse_duration(headers.get("x-ratelimit-reset-requests")),
    )
    return report if report != QuotaReport() else None


def rate_limit_error(
    vendor: str, message: str, retry_after_s: float | None, *, code: str | None = None
) -> RateLimited:
    """A 429 as ``QuotaExhausted`` when it is a daily (or account) quota: the message
    names one, the code says the account has no quota left (OpenAI's
    ``insufficient_quota``), or the retry-after is longer than ``LONG_RETRY_AFTER_S``;
    otherwise as ``RateLimited`` to wait out."""
    text = f"{vendor} 429: {message}"
    daily = (
        bool(_DAILY_WORDS.search(message))
        or code == "insufficient_quota"
        or (retry_after_s is not None and retry_after_s > LONG_RETRY_AFTER_S)
    )
    if not daily:
        return RateLimited(text, retry_after_s=retry_after_s)
    resets_at = (
        datetime.now(timezone.utc) + timedelta(seconds=retry_after_s)
        if retry_after_s is not None
        else None
    )
    return QuotaExhausted(text, retry_after_s=retry_after_s, resets_at=resets_at)


def describe_transport_error(exc: BaseException, url: str, timeout_s: float) -> str:
    """What went wrong on the wire, in words a person can act on, with the URL (never a
    key): connection refused, timed out, or the low-level error."""
    cause = exc if isinstance(exc, TRANSPORT_ERRORS) else (exc.__cause__ or exc)
    name = type(cause).__name__
    if "Timeout" in name:
        return f"timed out after {timeout_s:g} s at {url}"
    if "Connect" in name:
        detail = str(cause) or name
        refused = "refused" in detail.lower()
        return f"connection {'refused' if refused else 'failed'} at {url} ({detail})"
    return f"transport error at {url}: {name}: {cause}"


def status_error(vendor: str, status: int, url: str, message: str) -> LLMError:
    """The fault for a non-429 HTTP error status: 408 and 5xx are worth another try
    (``TransientError``), any other status is an ``LLMError`` the runner does not retry."""
    if status == 408 or status >= 500:
        return TransientError(f"{vendor} server error {status} at {url}: {message}")
    return LLMError(f"{vendor} {status} at {url}: {message}")


def chat_completion(raw: Any, model: str, started: float) -> Completion:
    """A ``Completion`` from an OpenAI-shaped chat-completions raw response (the groq and
    openai SDKs' ``with_raw_response``): text, model, token usage, latency since
    ``started`` (``time.monotonic()``) and the ``x-ratelimit-*`` quota headers."""
    response = raw.parse()
    usage = response.usage
    return Completion(
        text=response.choices[0].message.content or "",
        model=response.model or model,
        input_tokens=getattr(usage, "prompt_tokens", None),
        output_tokens=getattr(usage, "completion_tokens", None),
        latency_s=time.monotonic() - started,
        quota=quota_report(raw.headers),
    )
