"""What ``darija-assets teachers`` shows: every backend, whether it can run here, its
limits, what is left of today's quota, and which one ``auto`` (or the configured chain)
would use. Nothing here sends a request or loads a model.

"Left today" is honest about its sources: ``vendor`` is what the vendor itself last
reported in response headers (Groq and some OpenAI-compatible servers send
``x-ratelimit-remaining-requests``; Gemini reports nothing of the kind), ``counted``
is the configured daily limit minus the requests this data directory's ledger saw
(other clients of the same project spend the same quota), and ``unknown`` is said
where neither exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from darija_assets.llm.backends import AUTO_ORDER, AVAILABLE_WHEN, auto_choice, parse_chain
from darija_assets.llm.base import Limits
from darija_assets.llm.quotas import QuotaLedger


@dataclass(frozen=True)
class TeacherStatus:
    """One backend as ``darija-assets teachers`` lists it."""

    backend: str
    model: str
    available: bool
    why: str
    limits: Limits
    requests_today: int
    tokens_today: int
    left_today: str
    exhausted_until: str


def default_model(backend: str, env: Mapping[str, str], model: str | None) -> str:
    """The model a backend would use, without building it."""
    if model:
        return model
    if backend == "gemini":
        from darija_assets.llm.backends.gemini import DEFAULT_MODEL

        return DEFAULT_MODEL
    if backend == "groq":
        from darija_assets.llm.backends.groq import DEFAULT_MODEL

        return DEFAULT_MODEL
    if backend == "openai":
        return env.get("OPENAI_MODEL") or "(set openai_model / OPENAI_MODEL)"
    if backend == "transformers":
        return env.get(AVAILABLE_WHEN["transformers"]) or "(set DARIJA_LOCAL_MODEL)"
    return "offline"


def teacher_statuses(
    env: Mapping[str, str],
    limits_for,
    ledger: QuotaLedger,
    *,
    model: str | None = None,
    now: datetime | None = None,
) -> list[TeacherStatus]:
    """One status per backend of ``AUTO_ORDER``. ``env`` holds the keys and URLs as the
    resource resolved them (only their presence is used), ``limits_for(backend, model)``
    the effective limits, ``model`` the configured single-backend model."""
    now = now or datetime.now(timezone.utc)
    statuses = []
    for backend in AUTO_ORDER:
        needs = AVAILABLE_WHEN.get(backend)
        available = backend == "offline" or bool(env.get(needs or ""))
        why = (
            "always"
            if backend == "offline"
            else (f"{needs} is set" if available else f"{needs} is not set")
        )
        name = default_model(backend, env, model if backend != "offline" else None)
        limits = limits_for(backend, name) if backend != "offline" else Limits()
        usage = ledger.usage(backend, name)
        exhausted = ledger.exhausted(backend, name, limits) if backend != "offline" else None
        statuses.append(
            TeacherStatus(
                backend=backend,
                model=name,
                available=available,
                why=why,
                limits=limits,
                requests_today=usage.requests,
                tokens_today=usage.tokens,
                left_today=_left_today(backend, limits, usage),
                exhausted_until=exhausted[1].isoformat(timespec="minutes") if exhausted else "",
            )
        )
    return statuses


def _left_today(backend: str, limits: Limits, usage) -> str:
    if backend in ("offline", "transformers"):
        return "no quota (runs here)"
    reported = usage.reported or {}
    if reported.get("remaining_requests") is not None:
        return f"{reported['remaining_requests']} requests (vendor, {usage.reported_at})"
    if limits.rpd is not None:
        return f"{max(0, limits.rpd - usage.requests)} of {limits.rpd} requests (counted here)"
    return "unknown (no vendor report yet, no daily limit configured)"


def render(statuses: list[TeacherStatus], configured: str, env: Mapping[str, str]) -> str:
    """The table and the choice, as ``darija-assets teachers`` prints them."""

    def limit(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    rows = [
        [
            "backend",
            "model",
            "available",
            "RPM",
            "TPM",
            "RPD",
            "TPD",
            "used today",
            "left today",
            "exhausted until",
        ]
    ]
    for s in statuses:
        rows.append(
            [
                s.backend,
                s.model,
                f"yes ({s.why})" if s.available else f"no ({s.why})",
                limit(s.limits.rpm),
                limit(s.limits.tpm),
                limit(s.limits.rpd),
                limit(s.limits.tpd),
                f"{s.requests_today} req, {s.tokens_today} tok",
                s.left_today,
                s.exhausted_until or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    sources = sorted({s.limits.source for s in statuses if s.limits.source})
    lines += ["", "limits from: " + "; ".join(sources)]
    picked, why = auto_choice(env)
    lines.append(f"auto would pick: {picked} ({why})")
    chain = parse_chain(configured)
    if chain != ["auto"]:
        lines.append(
            f"configured: {configured} (tried in this order; a spent daily quota moves "
            "on to the next)"
        )
    return "\n".join(lines)
