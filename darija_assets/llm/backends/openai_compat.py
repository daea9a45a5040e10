"""Any OpenAI-compatible chat-completions server through the ``openai`` SDK: vLLM,
SGLang, Ollama, llama.cpp's server, LM Studio, hosted routers.

This is how a large open-weight teacher such as Atlas-Chat-9B is run at scale: served
by vLLM (``vllm serve MBZUAI-Paris/Atlas-Chat-9B``) or Ollama, and asked over HTTP.

- ``base_url`` and ``model`` are required; the key is optional (most local servers
  need none) and comes from the environment (``OPENAI_API_KEY``) through the resource.
- Structured output (``structured_output``): ``json_schema`` sends the task's schema as
  ``response_format`` (vLLM, SGLang, Ollama and llama.cpp enforce it); ``json_object``
  asks for JSON mode only; ``none`` sends neither and relies on the lenient answer
  parser; ``auto`` starts with ``json_schema`` and, the first time the server rejects
  ``response_format`` with a 400, asks again without it and stays on ``none`` for the
  rest of the run (``structured_output`` shows the mode in use).
- ``system_role``: ``auto`` folds the system text into the user turn for Gemma-family
  models (their templates refuse a system turn; see ``_chat.py``).
- The SDK's own retries are off (``max_retries=0``): the runner's are the only ones.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from darija_assets.llm.backends._chat import (
    chat_messages,
    check_system_role,
    folds_system_role,
    system_with_schema,
)
from darija_assets.llm.backends._http import (
    chat_completion,
    describe_transport_error,
    parse_duration,
    parse_retry_after,
    rate_limit_error,
    status_error,
)
from darija_assets.llm.base import (
    Backend,
    BackendUnavailable,
    Completion,
    Limits,
    LLMError,
    Prompt,
    TransientError,
)

STRUCTURED_OUTPUT_MODES = ("auto", "json_schema", "json_object", "none")
#: sent when no key is configured: the SDK refuses to start without one, local servers ignore it
NO_KEY = "no-key"


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str | None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        structured_output: str = "auto",
        system_role: str = "auto",
        limits: Limits | None = None,
    ):
        if not base_url:
            raise BackendUnavailable(
                "openai needs the base_url of an OpenAI-compatible server "
                "(e.g. http://127.0.0.1:8000/v1 for vLLM, http://127.0.0.1:11434/v1 for Ollama)"
            )
        if not model:
            raise BackendUnavailable("openai needs the model name the server serves")
        if structured_output not in STRUCTURED_OUTPUT_MODES:
            raise ValueError(
                f"structured_output must be one of {', '.join(STRUCTURED_OUTPUT_MODES)}, "
                f"got {structured_output!r}"
            )
        import openai

        self.model, self.endpoint = model, base_url.rstrip("/")
        self.limits = limits or Limits(source="none known (self-hosted server)")
        self._fold = folds_system_role(check_system_role(system_role), model)
        self._structured = "json_schema" if structured_output == "auto" else structured_output
        self._may_fall_back = structured_output == "auto"
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY, base_url=self.endpoint, max_retries=0, timeout=timeout_s
        )

    @property
    def structured_output(self) -> str:
        """The mode in use now (``auto`` may have fallen back to ``none``)."""
        return self._structured

    def complete(self, prompt: Prompt) -> Completion:
        import openai

        mode = self._structured
        started = time.monotonic()
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                **self._request(prompt, mode)
            )
        except openai.BadRequestError as exc:
            if mode != "none" and self._may_fall_back and _about_response_format(exc):
                with self._lock:
                    self._structured = "none"
                return self.complete(prompt)
            raise LLMError(f"openai 400 at {self.endpoint}: {_message(exc)}") from exc
        except openai.RateLimitError as exc:
            headers = exc.response.headers
            retry_after = parse_retry_after(headers.get("retry-after")) or parse_duration(
                headers.get("x-ratelimit-reset-requests")
            )
            raise rate_limit_error("openai", _message(exc), retry_after, code=_code(exc)) from exc
        except openai.APIStatusError as exc:
            raise status_error("openai", exc.status_code, self.endpoint, _message(exc)) from exc
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise TransientError(
                "openai " + describe_transport_error(exc, self.endpoint, self._timeout_s)
            ) from exc
        return chat_completion(raw, self.model, started)

    def _request(self, prompt: Prompt, mode: str) -> dict[str, Any]:
        schema = prompt.response_schema
        # A server that enforces the schema needs no copy of it in the prompt.
        system = (
            prompt.system if schema is None or mode == "json_schema" else system_with_schema(prompt)
        )
        request: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(system, prompt.user, fold=self._fold),
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_output_tokens,
        }
        if schema is not None and mode == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            }
        elif schema is not None and mode == "json_object":
            request["response_format"] = {"type": "json_object"}
        return request


def _about_response_format(exc: Any) -> bool:
    """Whether a 400 is the server refusing structured output (not a bad prompt)."""
    text = f"{_message(exc)} {getattr(exc, 'param', '') or ''}".lower()
    return any(word in text for word in ("response_format", "json_schema", "guided", "grammar"))


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(getattr(exc, "message", exc))


def _code(exc: Any) -> str | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else None
