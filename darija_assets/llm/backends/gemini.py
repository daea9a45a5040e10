"""Gemini through the ``google-genai`` SDK (the maintained successor of the retired
``google-generativeai``), with structured JSON output enforced by a schema.

The SDK's own retries are switched off (``HttpRetryOptions(attempts=1)``) so the
runner's retries are the only ones, and the only ones counted.
"""

from __future__ import annotations

import re
import time
from typing import Any

from darija_assets.llm.backends._http import TRANSPORT_ERRORS, parse_retry_after
from darija_assets.llm.base import (
    Backend,
    BackendUnavailable,
    Completion,
    LLMError,
    Prompt,
    RateLimited,
    TransientError,
)

DEFAULT_MODEL = "gemini-2.5-flash"


class GeminiBackend(Backend):
    name = "gemini"

    def __init__(self, api_key: str, *, model: str = DEFAULT_MODEL, base_url: str | None = None,
                 timeout_s: float = 120.0):
        if not api_key:
            raise BackendUnavailable("gemini needs an API key (GEMINI_API_KEY)")
        from google import genai
        from google.genai import types

        self.model = model
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
                {"response_mime_type": "application/json",
                 "response_json_schema": prompt.response_schema}
                if prompt.response_schema is not None else {}
            ),
        )
        started = time.monotonic()
        try:
            response = self._client.models.generate_content(
                model=self.model, contents=prompt.user, config=config
            )
        except errors.APIError as exc:
            raise _map_api_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise TransientError(f"gemini transport error: {type(exc).__name__}: {exc}") from exc
        usage = response.usage_metadata
        return Completion(
            text=response.text or "",
            model=self.model,
            input_tokens=getattr(usage, "prompt_token_count", None),
            output_tokens=getattr(usage, "candidates_token_count", None),
            latency_s=time.monotonic() - started,
        )


def _map_api_error(exc: Any) -> LLMError:
    code = getattr(exc, "code", None)
    if code == 429:
        return RateLimited(f"gemini 429: {exc.message}", retry_after_s=_gemini_retry_after(exc))
    if code in (408,) or (isinstance(code, int) and code >= 500):
        return TransientError(f"gemini {code}: {exc.message}")
    return LLMError(f"gemini {code}: {exc.message}")


def _gemini_retry_after(exc: Any) -> float | None:
    """Gemini says when to come back in a ``retry-after`` header or in a
    ``google.rpc.RetryInfo`` detail (``"retryDelay": "12s"``)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    from_header = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    if from_header is not None:
        return from_header
    details = (exc.details or {}).get("error", {}).get("details", []) if isinstance(exc.details, dict) else []
    for detail in details:
        delay = isinstance(detail, dict) and detail.get("retryDelay")
        match = re.fullmatch(r"([0-9.]+)s", delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None
