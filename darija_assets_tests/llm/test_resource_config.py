"""The LLM resource validates its config when built and chooses teachers out loud.

Why: a zero or negative limit, or a model given to a whole chain, should fail at once,
not halfway through a paid run; and a configured teacher that cannot run must never
turn silently into the offline labeller.
"""

from __future__ import annotations

import pytest

from darija_assets.llm.backends import BackendUnavailable, choose_teachers, parse_chain
from darija_assets.resources import LLMResource

from .conftest import FAKE_KEY


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"backend": "gemini,bogus"}, r"unknown LLM backend '?bogus"),
        ({"backend": "groq,groq"}, "names each backend once"),
        ({"backend": "auto,offline"}, "'auto' only alone"),
        ({"backend": "gemini,groq", "model": "x"}, "model applies to a single backend"),
        ({"requests_per_minute": -1}, "requests_per_minute must be >= 0"),
        ({"concurrency": 0}, "concurrency >= 1"),
        ({"max_quarantine_ratio": 0}, "max_quarantine_ratio must be in"),
        ({"wait_budget_s": -5}, "must not be negative"),
    ],
)
def test_bad_config_fails_when_built(config, message):
    with pytest.raises(Exception, match=message):
        LLMResource(**config)


def test_chains_parse_in_order():
    assert parse_chain(" gemini, groq ,offline") == ["gemini", "groq", "offline"]


def test_a_named_backend_that_cannot_run_is_an_error_unless_fallback(monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    with pytest.raises(BackendUnavailable, match="backend 'groq' is configured but cannot run"):
        LLMResource(backend="groq,offline").choose_teachers()
    choice = LLMResource(backend="groq,offline", fallback=True).choose_teachers()
    assert [t.name for t in choice.teachers] == ["offline"]
    assert choice.skipped == ["groq: groq needs an API key (GROQ_API_KEY)"]


def test_auto_says_why(monkeypatch):
    for variable in ("GEMINI_API_KEY", "GROQ_API_KEY", "OPENAI_BASE_URL", "DARIJA_LOCAL_MODEL"):
        monkeypatch.delenv(variable, raising=False)
    assert LLMResource().choose_teachers().reason.startswith("auto: no GEMINI_API_KEY")
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    choice = LLMResource().choose_teachers()
    assert (choice.names, choice.reason) == (
        "groq/llama-3.3-70b-versatile",
        "auto: GROQ_API_KEY is set",
    )


def test_configured_limits_override_the_vendor_defaults(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    backend = LLMResource(
        backend="groq", requests_per_minute=0, requests_per_day=200
    ).make_backend()
    assert (backend.limits.rpm, backend.limits.tpm, backend.limits.rpd, backend.limits.tpd) == (
        None,
        12_000,
        200,
        100_000,
    )
    assert backend.limits.source == "config"


def test_choose_teachers_builds_each_member_in_order():
    built: list[str] = []

    def build(name):
        built.append(name)
        if name == "gemini":
            raise BackendUnavailable("no key")
        from darija_assets.llm.backends import make_backend

        return make_backend("offline")

    choice = choose_teachers("gemini,offline", build, fallback=True, env={})
    assert built == ["gemini", "offline"] and choice.reason == (
        "configured: gemini,offline (skipped gemini: no key)"
    )
