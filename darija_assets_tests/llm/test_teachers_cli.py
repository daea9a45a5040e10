"""`darija-assets teachers`: the configured backends, their limits, today's quota left
(as the vendor reported it, counted here, or honestly unknown), and auto's pick.

Why: with free tiers metered per day, an operator needs to see before launching a run
which teacher will answer and how much of today is left, without spending a request.
"""

from __future__ import annotations

from darija_assets import cli
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import StubServer
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets.resources import LLMResource
from darija_assets.storage import Layout

from .conftest import darija_items, lexicon_teacher


def _row(output: str, backend: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(backend + " "))


def test_teachers_lists_limits_quota_left_and_autos_pick(tmp_path, monkeypatch, capsys):
    for variable in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DARIJA_DATA_DIR", str(tmp_path))
    with StubServer(lexicon_teacher) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url + "/v1")
        monkeypatch.setenv("OPENAI_MODEL", "qwen2.5-7b-instruct")
        stub.requests_per_day = 50
        resource = LLMResource()
        backend = resource.build_backend("openai")
        run_task(
            LabelTask(batch_size=5),
            darija_items(10),
            backend,
            None,
            concurrency=1,
            ledger=resource.open_ledger(Layout()),
        )
        sent = len(stub.requests)
        assert cli.main(["teachers", "--resource", "llm"]) == 0
    out = capsys.readouterr().out
    assert len(stub.requests) == sent  # the command itself asks nothing

    openai_row = _row(out, "openai")
    assert "qwen2.5-7b-instruct" in openai_row and "yes (OPENAI_BASE_URL is set)" in openai_row
    assert "2 req" in openai_row and "48 requests (vendor" in openai_row
    groq_row = _row(out, "groq")
    assert "no (GROQ_API_KEY is not set)" in groq_row
    assert groq_row.split(")", 1)[1].split()[:4] == ["30", "12,000", "1,000", "100,000"]  # limits
    assert "1000 of 1000 requests (counted here)" in groq_row
    assert "250 of 250 requests (counted here)" in _row(out, "gemini")
    assert "no quota (runs here)" in _row(out, "offline")
    assert "auto would pick: openai (auto: OPENAI_BASE_URL is set)" in out
    assert "console.groq.com/docs/rate-limits" in out and "ai.google.dev" in out


def test_a_configured_chain_and_an_exhausted_day_are_shown(tmp_path, monkeypatch, capsys):
    for variable in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DARIJA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GROQ_API_KEY", "test-key-not-a-secret")
    with StubServer(lexicon_teacher) as stub:
        stub.requests_per_day = 1
        resource = LLMResource(
            backend="groq,offline",
            groq_base_url=stub.url,
            requests_per_minute=0,
            tokens_per_minute=0,
        )
        result = run_task(
            LabelTask(batch_size=5),
            darija_items(10),
            resource.build_backend("groq"),
            None,
            concurrency=1,
            ledger=resource.open_ledger(Layout()),
        )
    assert result.stops and result.stops[0].resets_at is not None
    from darija_assets import definitions

    monkeypatch.setitem(definitions.defs.resources, "llm", resource)
    assert cli.main(["teachers", "--resource", "llm"]) == 0
    out = capsys.readouterr().out
    assert "== llm: backend 'groq,offline', fallback False ==" in out
    assert result.stops[0].resets_at.isoformat(timespec="minutes") in _row(out, "groq")
    assert "configured: groq,offline (tried in this order" in out
    assert "test-key-not-a-secret" not in out
