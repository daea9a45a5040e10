"""Backends behind one interface, the factory that builds one, and teacher chains.

``auto`` takes the first backend that can run here, in this order:

1. ``gemini``        when GEMINI_API_KEY is set
2. ``groq``          when GROQ_API_KEY is set
3. ``openai``        when OPENAI_BASE_URL names an OpenAI-compatible server (vLLM, Ollama...)
4. ``transformers``  when DARIJA_LOCAL_MODEL names a local model directory or cached id
5. ``offline``       always (the task's own honest offline answer, or a skip)

A chain (``"gemini,groq,offline"``) is tried in order by the runner: when one teacher's
daily quota is spent, the next one continues. ``choose_teachers`` builds it and says
why: a named backend that cannot run is an error, unless ``fallback`` allows the
next available one; either way the reason is returned for the log and metadata.

``student`` (never picked by ``auto``) is a trained emotion_classifier that labels
sentences itself in teacher_labels, at no teacher request (``backends/student.py``).

Keys come from the environment or from the caller (the Dagster resource reads them
with ``EnvVar``); they are handed to the SDK and never logged or stored.
SDKs are imported only when their backend is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from darija_assets.llm.backends.offline import OfflineBackend
from darija_assets.llm.base import Backend, BackendUnavailable, Limits

AUTO_ORDER = ("gemini", "groq", "openai", "transformers", "offline")
BACKEND_NAMES = ("auto", *AUTO_ORDER, "student")
LOCAL_MODEL_ENV = "DARIJA_LOCAL_MODEL"
#: what makes each backend available in ``auto``
AVAILABLE_WHEN = {
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "openai": "OPENAI_BASE_URL",
    "transformers": LOCAL_MODEL_ENV,
}
_KEY_ENV = {"gemini": "GEMINI_API_KEY", "groq": "GROQ_API_KEY", "openai": "OPENAI_API_KEY"}


def parse_chain(spec: str) -> list[str]:
    """``"gemini, groq,offline"`` -> ``["gemini", "groq", "offline"]``; ``auto`` only alone.
    Raises ``ValueError`` for an unknown or repeated name."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [n for n in names if n not in BACKEND_NAMES]
    if not names or unknown:
        raise ValueError(
            f"unknown LLM backend {', '.join(unknown) or spec!r}; "
            f"choose from {', '.join(BACKEND_NAMES)} (or a comma-separated chain)"
        )
    if len(set(names)) != len(names) or ("auto" in names and len(names) > 1):
        raise ValueError(f"a backend chain names each backend once and 'auto' only alone: {spec!r}")
    return names


def auto_choice(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(the backend ``auto`` picks, why)."""
    env = os.environ if env is None else env
    for name in AUTO_ORDER[:-1]:
        if env.get(AVAILABLE_WHEN[name]):
            return name, f"auto: {AVAILABLE_WHEN[name]} is set"
    return "offline", "auto: no GEMINI_API_KEY, GROQ_API_KEY, OPENAI_BASE_URL or DARIJA_LOCAL_MODEL"


def resolve_backend_name(name: str, env: Mapping[str, str] | None = None) -> str:
    """The concrete backend ``name`` stands for (``auto`` resolved against ``env``)."""
    (single,) = parse_chain(name)
    return auto_choice(env)[0] if single == "auto" else single


def make_backend(
    name: str = "auto",
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
    env: Mapping[str, str] | None = None,
    limits: Limits | None = None,
    structured_output: str = "auto",
    system_role: str = "auto",
    **local_options: object,
) -> Backend:
    """Build one backend. ``api_key`` overrides the environment variable; ``model``
    defaults per vendor (gemini-2.5-flash, llama-3.3-70b-versatile), to $OPENAI_MODEL for
    ``openai`` and to $DARIJA_LOCAL_MODEL for ``transformers``; ``base_url`` defaults to
    $OPENAI_BASE_URL for ``openai``. ``limits`` are what the runner paces and stops by
    (none when not given: see ``quotas.vendor_limits`` for the vendors' defaults).
    ``structured_output`` is the openai backend's mode, ``system_role`` that of openai and
    transformers (``_chat.py``). ``local_options`` go to ``TransformersBackend``
    (prompts_per_call, max_new_tokens, load_in_4bit, device).
    Raises ``BackendUnavailable`` when the named backend cannot run here.
    """
    env = os.environ if env is None else env
    resolved = resolve_backend_name(name, env)
    if resolved == "offline":
        return OfflineBackend()
    if resolved == "student":
        from darija_assets.llm.backends.student import StudentBackend

        return StudentBackend(model)
    if resolved == "transformers":
        from darija_assets.llm.backends.transformers_local import TransformersBackend

        path = model or env.get(LOCAL_MODEL_ENV, "")
        return TransformersBackend(path, system_role=system_role, **local_options)  # type: ignore[arg-type]
    key = api_key or env.get(_KEY_ENV[resolved], "")
    if resolved == "openai":
        from darija_assets.llm.backends.openai_compat import OpenAIBackend

        return OpenAIBackend(
            base_url=base_url or env.get("OPENAI_BASE_URL"),
            model=model or env.get("OPENAI_MODEL"),
            api_key=key or None,
            timeout_s=timeout_s,
            structured_output=structured_output,
            system_role=system_role,
            limits=limits,
        )
    if resolved == "gemini":
        from darija_assets.llm.backends.gemini import DEFAULT_MODEL, GeminiBackend

        return GeminiBackend(
            key, model=model or DEFAULT_MODEL, base_url=base_url, timeout_s=timeout_s, limits=limits
        )
    from darija_assets.llm.backends.groq import DEFAULT_MODEL, GroqBackend

    return GroqBackend(
        key, model=model or DEFAULT_MODEL, base_url=base_url, timeout_s=timeout_s, limits=limits
    )


@dataclass
class TeacherChoice:
    """The teachers a step will ask, in order, and why they were chosen."""

    teachers: list[Backend]
    reason: str
    #: backends of the configured chain that could not run, with why (only with fallback)
    skipped: list[str] = field(default_factory=list)

    @property
    def names(self) -> str:
        return ",".join(f"{t.name}/{t.model}" for t in self.teachers)


def choose_teachers(
    spec: str, build, *, fallback: bool = False, env: Mapping[str, str] | None = None
) -> TeacherChoice:
    """Build the chain ``spec`` names with ``build(name) -> Backend``.

    A member that raises ``BackendUnavailable`` is an error naming it, unless
    ``fallback``: then it is skipped (and said so), and if no member can run, ``auto``
    picks. ``auto`` itself resolves against ``env``.
    """
    names = parse_chain(spec)
    if names == ["auto"]:
        picked, why = auto_choice(env)
        return TeacherChoice([build(picked)], why)
    teachers: list[Backend] = []
    skipped: list[str] = []
    for name in names:
        try:
            teachers.append(build(name))
        except BackendUnavailable as exc:
            if not fallback:
                raise BackendUnavailable(
                    f"backend {name!r} is configured but cannot run: {exc} "
                    "(set fallback: true to go on with the next available backend)"
                ) from exc
            skipped.append(f"{name}: {exc}")
    if not teachers:
        picked, why = auto_choice(env)
        return TeacherChoice(
            [build(picked)], f"fallback, nothing in {spec!r} could run; {why}", skipped
        )
    reason = f"configured: {spec}" + (f" (skipped {'; '.join(skipped)})" if skipped else "")
    return TeacherChoice(teachers, reason, skipped)


__all__ = [
    "AUTO_ORDER",
    "BACKEND_NAMES",
    "BackendUnavailable",
    "TeacherChoice",
    "auto_choice",
    "choose_teachers",
    "make_backend",
    "parse_chain",
    "resolve_backend_name",
]
