"""Groq through the ``groq`` SDK (OpenAI-compatible chat completions) in JSON mode.

JSON mode guarantees a JSON object but not its shape, so the schema travels in the
system message and the task validates the answer. The SDK's own retries are off
(``max_retries=0``): the runner's retries are the only ones, and counted. Every answer
carries Groq's ``x-ratelimit-*`` headers (requests left today, tokens left this
minute), kept for ``darija-assets teachers``. A 429 that names a daily limit (RPD/TPD)
or asks to wait for many minutes is a ``QuotaExhausted``: the step stops cleanly.
"""

from __future__ import annotations

import time

from darija_assets.llm.backends._chat import chat_messages, system_with_schema
from darija_assets.llm.backends._http import (
    chat_completion,
    describe_transport_error,
    parse_retry_after,
    rate_limit_error,
    status_error,
)
from darija_assets.llm.base import (
    Backend,
    BackendUnavailable,
    Completion,
    Limits,
    Prompt,
    TransientError,
)

DEFAULT_MODEL = "llama-3.3-70b-versatile"
DEFAULT_BASE_URL = "https://api.groq.com"


class GroqBackend(Backend):
    name = "groq"

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
            raise BackendUnavailable("groq needs an API key (GROQ_API_KEY)")
        from groq import Groq

        self.model = model
        self.endpoint = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if limits is not None:
            self.limits = limits
        self._timeout_s = timeout_s
        self._client = Groq(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)

    def complete(self, prompt: Prompt) -> Completion:
        import groq

        kwargs = {}
        if prompt.response_schema is not None:
            kwargs["response_format"] = {"type": "json_object"}
        started = time.monotonic()
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=chat_messages(system_with_schema(prompt), prompt.user, fold=False),
                temperature=prompt.temperature,
                max_completion_tokens=prompt.max_output_tokens,
                **kwargs,
            )
        except groq.RateLimitError as exc:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            raise rate_limit_error("groq", exc.message, retry_after) from exc
        except groq.APIStatusError as exc:
            raise status_error("groq", exc.status_code, self.endpoint, exc.message) from exc
        except groq.APIConnectionError as exc:  # includes APITimeoutError
            raise TransientError(
                "groq " + describe_transport_error(exc, self.endpoint, self._timeout_s)
            ) from exc
        return chat_completion(raw, self.model, started)
