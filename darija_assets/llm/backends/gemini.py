"""Gemini through the ``google-genai`` SDK (the maintained successor of the retired
``google-generativeai``), with structured JSON output enforced by a schema.

The SDK's own retries are switched off (``HttpRetryOptions(attempts=1)``) so the
runner's retries are the only ones, and the only ones counted. A 429
RESOURCE_EXHAUSTED whose ``google.rpc.QuotaFailure`` names a per-day quota id (e.g.
``GenerateRequestsPerDayPerProjectPerModel-FreeTier``) is a ``QuotaExhausted`` that
resets at midnight Pacific time (ai.google.dev/gemini-api/docs/rate-limits).
"""

from __future__ import annotations

import re
import time
from typing import Any

from darija_assets.llm.backends._http import (
    TRANSPORT_ERRORS,
    describe_transport_error,
    parse_retry_after,
)
from darija_assets.llm.base import (
    Backend,
    BackendUnavailable,
    Completion,
    Limits,
    LLMError,
    Prompt,
    QuotaExhausted,
    RateLimited,
    TransientError,
)

DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiBackend(Backend):
    name = "gemini"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        limits: Limits | None = None,
    ):
        if not api_key:
            raise BackendUnavailable("gemini needs an API key (GEMINI_API_KEY)")
        from google import genai
        from google.genai import types

        self.model = model
        self.endpoint = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if limits is not None:
            self.limits = limits
        self._timeout_s = timeout_s
        self._types = types
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                # Pinned: structured output (response_json_schema) lives on v1beta, and a
                # custom base_url would otherwise make the SDK pick v1.
                api_version="v1beta",
                timeout=int(timeout_s * 1000),  # the SDK counts milliseconds
                retry_options=types.HttpRetryOptions(attempts=1),
            ),
        )

    def complete(self, prompt: Prompt) -> Completion:
        from google.genai import errors

        config = self._types.GenerateContentConfig(
            system_instruction=prompt.system,
            temperature=prompt.temperature,
            max_output_tokens=prompt.max_output_tokens,
            **(
                {
                    "response_mime_type": "application/json",
                    "response_json_schema": prompt.response_schema,
                }
                if prompt.response_schema is not None
                else {}
            ),
        )
        started = time.monotonic()
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=prompt.user, config=config
            )
        except errors.APIError as exc:
            raise _map_api_error(exc, self.endpoint) from exc
        except TRANSPORT_ERRORS as exc:
            raise TransientError(
                "gemini " + describe_transport_error(exc, self.endpoint, self._timeout_s)
            ) from exc
        usage = response.usage_metadata
        return Completion(
            text=response.text or "",
            model=self.model,
            input_tokens=getattr(usage, "prompt_token_count", None),
            output_tokens=getattr(usage, "candidates_token_count", None),
            latency_s=time.monotonic() - started,
        )


def _map_api_error(exc: Any, endpoint: str) -> LLMError:
    code = getattr(exc, "code", None)
    if code == 429:
        retry_after = _gemini_retry_after(exc)
        daily = _per_day_quota_ids(exc)
        if daily:
            from darija_assets.llm.quotas import next_day_start

            return QuotaExhausted(
                f"gemini 429 ({', '.join(daily)}): {exc.message}",
                retry_after_s=retry_after,
                resets_at=next_day_start("gemini"),
            )
        return RateLimited(f"gemini 429: {exc.message}", retry_after_s=retry_after)
    if code in (408,) or (isinstance(code, int) and code >= 500):
        return TransientError(f"gemini server error {code} at {endpoint}: {exc.message}")
    return LLMError(f"gemini {code} at {endpoint}: {exc.message}")


def _error_details(exc: Any) -> list:
    details = exc.details if isinstance(getattr(exc, "details", None), dict) else {}
    found = details.get("error", {}).get("details", [])
    return found if isinstance(found, list) else []


def _per_day_quota_ids(exc: Any) -> list[str]:
    """The per-day quota ids a 429's ``google.rpc.QuotaFailure`` violations name."""
    ids = [
        str(violation.get("quotaId", ""))
        for detail in _error_details(exc)
        if isinstance(detail, dict) and detail.get("@type", "").endswith("QuotaFailure")
        for violation in detail.get("violations", [])
        if isinstance(violation, dict)
    ]
    return [quota_id for quota_id in ids if "PerDay" in quota_id]


def _gemini_retry_after(exc: Any) -> float | None:
    """Gemini says when to come back in a ``retry-after`` header or in a
    ``google.rpc.RetryInfo`` detail (``"retryDelay": "12s"``)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    from_header = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    if from_header is not None:
        return from_header
    for detail in _error_details(exc):
        delay = isinstance(detail, dict) and detail.get("retryDelay")
        match = re.fullmatch(r"([0-9.]+)s", delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None
