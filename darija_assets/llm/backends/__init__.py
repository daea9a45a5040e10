"""Backends behind one interface, and the factory that picks one.

``auto`` takes the first backend that can run here, in this order:

1. ``gemini``        when GEMINI_API_KEY is set
2. ``groq``          when GROQ_API_KEY is set
3. ``transformers``  when DARIJA_LOCAL_MODEL names a local model directory or cached id
4. ``offline``       always (the task's own honest offline answer, or a skip)

Keys come from the environment or from the caller (the Dagster resource reads them
with ``EnvVar``); they are handed to the SDK and never logged or stored.
SDKs are imported only when their backend is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from darija_assets.llm.backends.offline import OfflineBackend
from darija_assets.llm.base import Backend, BackendUnavailable

BACKEND_NAMES = ("auto", "gemini", "groq", "transformers", "offline")
AUTO_ORDER = ("gemini", "groq", "transformers", "offline")
LOCAL_MODEL_ENV = "DARIJA_LOCAL_MODEL"
_KEY_ENV = {"gemini": "GEMINI_API_KEY", "groq": "GROQ_API_KEY"}


def resolve_backend_name(name: str, env: Mapping[str, str] | None = None) -> str:
    """The concrete backend ``name`` stands for (``auto`` resolved against ``env``)."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown LLM backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if name != "auto":
        return name
    env = os.environ if env is None else env
    if env.get("GEMINI_API_KEY"):
        return "gemini"
    if env.get("GROQ_API_KEY"):
        return "groq"
    if env.get(LOCAL_MODEL_ENV):
        return "transformers"
    return "offline"


def make_backend(
    name: str = "auto",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    env: Mapping[str, str] | None = None,
    **local_options: object,
) -> Backend:
    """Build a backend. ``api_key`` overrides the environment variable; ``model``
    defaults per vendor (gemini-2.5-flash, llama-3.3-70b-versatile) and, for
    ``transformers``, to $DARIJA_LOCAL_MODEL. ``local_options`` go to
    ``TransformersBackend`` (prompts_per_call, max_new_tokens, load_in_4bit, device).
    Raises ``BackendUnavailable`` when the named backend cannot run here.
    """
    env = os.environ if env is None else env
    resolved = resolve_backend_name(name, env)
    if resolved == "offline":
        return OfflineBackend()
    if resolved == "transformers":
        from darija_assets.llm.backends.transformers_local import TransformersBackend

        path = model or env.get(LOCAL_MODEL_ENV, "")
        return TransformersBackend(path, **local_options)  # type: ignore[arg-type]
    key = api_key or env.get(_KEY_ENV[resolved], "")
    if resolved == "gemini":
        from darija_assets.llm.backends.gemini import DEFAULT_MODEL, GeminiBackend

        return GeminiBackend(key, model=model or DEFAULT_MODEL, base_url=base_url, timeout_s=timeout_s)
    from darija_assets.llm.backends.groq import DEFAULT_MODEL, GroqBackend

    return GroqBackend(key, model=model or DEFAULT_MODEL, base_url=base_url, timeout_s=timeout_s)


__all__ = ["AUTO_ORDER", "BACKEND_NAMES", "BackendUnavailable", "make_backend", "resolve_backend_name"]
