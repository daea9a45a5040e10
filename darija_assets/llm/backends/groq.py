"""Groq through the ``groq`` SDK (OpenAI-compatible chat completions) in JSON mode.

JSON mode guarantees a JSON object but not its shape, so the schema travels in the
system message and the task validates the answer. The SDK's own retries are off
(``max_retries=0``): the runner's retries are the only ones, and counted.
"""

from __future__ import annotations

import time

from darija_assets.llm.backends._http import parse_retry_after
from darija_assets.llm.backends._schema import system_with_schema
from darija_assets.llm.base import (
    Backend,
    BackendUnavailable,
    Completion,
    LLMError,
    Prompt,
    RateLimited,
    TransientError,
)

DEFAULT_MODEL = "llama-3.3-70b-versatile"


class GroqBackend(Backend):
    name = "groq"

    def __init__(self, api_key: str, *, model: str = DEFAULT_MODEL, base_url: str | None = None,
                 timeout_s: float = 120.0):
        if not api_key:
            raise BackendUnavailable("groq needs an API key (GROQ_API_KEY)")
        from groq import Groq

        self.model = model
        self._client = Groq(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)

    def complete(self, prompt: Prompt) -> Completion:
        import groq

        kwargs = {}
        if prompt.response_schema is not None:
            kwargs["response_format"] = {"type": "json_object"}
        started = time.monotonic()
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system_with_schema(prompt)},
                    {"role": "user", "content": prompt.user},
                ],
                temperature=prompt.temperature,
                max_completion_tokens=prompt.max_output_tokens,
                **kwargs,
            )
        except groq.RateLimitError as exc:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            raise RateLimited(f"groq 429: {exc.message}", retry_after_s=retry_after) from exc
        except groq.APIStatusError as exc:
            if exc.status_code == 408 or exc.status_code >= 500:
                raise TransientError(f"groq {exc.status_code}: {exc.message}") from exc
            raise LLMError(f"groq {exc.status_code}: {exc.message}") from exc
        except groq.APIConnectionError as exc:  # includes APITimeoutError
            raise TransientError(f"groq transport error: {exc}") from exc
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            model=response.model or self.model,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
            latency_s=time.monotonic() - started,
        )
