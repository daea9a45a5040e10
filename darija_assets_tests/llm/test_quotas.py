"""Daily quotas, fallback chains and bounded waiting, with the real SDKs against the stub.

Why: the original labelling stopped at 16,345 of 50,000 sentences when a free tier's
day ran out, and a daily-quota 429 used to make the step sleep on its retry-after or
fail as a transport error. Here a spent day ends the run cleanly: every answer is
committed, the rest is pending with when the quota resets, the next run continues
with 0 repeated requests, and a chain hands the rest to the next teacher.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from darija_assets.llm import lexicon
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Limits
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.quotas import (
    QuotaLedger,
    next_day_start,
    vendor_limits,
    with_overrides,
)
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import GEMINI_DAILY_QUOTA_ID, Fault, StubServer
from darija_assets.llm.tasks.labels import LabelTask

from .conftest import FAKE_KEY, darija_items, lexicon_teacher, texts_in

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "seed": 5, "concurrency": 1}
BATCH = 5


def _backend(vendor: str, stub: StubServer, **options):
    base = stub.url + "/v1" if vendor == "openai" else stub.url
    return make_backend(
        vendor,
        api_key=FAKE_KEY,
        base_url=base,
        timeout_s=10,
        model="m" if vendor == "openai" else None,
        **options,
    )


class _Clock:
    """A UTC clock the test moves forward (a quota day passing)."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("vendor", ["gemini", "groq", "openai"])
def test_a_daily_quota_ends_the_run_with_progress_saved_and_the_next_run_finishes_it(
    vendor, tmp_path
):
    items = darija_items(23)
    clock = _Clock()
    ledger_path = tmp_path / "ledger.json"
    with StubServer(lexicon_teacher) as stub, AnswerCache(tmp_path / "a.sqlite") as cache:
        stub.requests_per_day = 2
        backend = _backend(vendor, stub)
        first = run_task(
            LabelTask(batch_size=BATCH),
            items,
            backend,
            cache,
            ledger=QuotaLedger(ledger_path, clock),
            **FAST,
        )

        # -- day one: two batches answered and committed, then the vendor's daily 429 ----
        assert [r.outcome for r in stub.requests] == ["ok", "ok", "daily_quota"]
        assert [row["key"] for row in first.rows] == [i.key for i in items[: 2 * BATCH]]
        assert first.pending == [i.key for i in items[2 * BATCH :]] and not first.complete
        assert first.stats["pending"] == 13 and first.quarantined == []
        (stop,) = first.stops
        assert stop.backend == vendor and "daily quota exhausted" in stop.reason
        if vendor == "gemini":
            assert GEMINI_DAILY_QUOTA_ID in stop.reason  # not its misleading 43 s RetryInfo
            assert stop.resets_at == next_day_start("gemini")  # midnight Pacific
        else:
            assert "requests per day (RPD)" in stop.reason
            expected = datetime.now(timezone.utc) + timedelta(seconds=5184)
            assert abs((stop.resets_at - expected).total_seconds()) < 60
        assert first.stats["quota_resets_at"] == stop.resets_at.isoformat(timespec="seconds")
        assert first.stats["rate_limit_wait_s"] == 0  # no sleeping on a daily quota

        # -- the same day again: the ledger holds the teacher back, not one request ------
        sent = len(stub.requests)
        again = run_task(
            LabelTask(batch_size=BATCH),
            items,
            backend,
            cache,
            ledger=QuotaLedger(ledger_path, clock),
            **FAST,
        )
        assert len(stub.requests) == sent and again.stats["cache_hits"] == 10
        assert again.pending == first.pending

        # -- after the reset: only the pending items are asked, each once -----------------
        stub.requests_per_day, stub.answered_today = None, 0
        clock.now = stop.resets_at + timedelta(minutes=1)
        final = run_task(
            LabelTask(batch_size=BATCH),
            items,
            backend,
            cache,
            ledger=QuotaLedger(ledger_path, clock),
            **FAST,
        )
    asked_after = [t for r in stub.requests[sent:] for t in texts_in(r)]
    assert sorted(asked_after) == sorted(i.text for i in items[2 * BATCH :])  # 0 repeated
    assert final.complete and final.stats["cache_hits"] == 10
    assert {r["key"]: r["label"] for r in final.rows} == {
        i.key: lexicon.label(i.text) for i in items
    }


def test_a_fallback_chain_moves_on_and_every_row_records_its_teacher(tmp_path):
    items = darija_items(30)
    with (
        StubServer(lexicon_teacher) as gemini_stub,
        StubServer(lexicon_teacher) as groq_stub,
        AnswerCache(tmp_path / "a.sqlite") as cache,
    ):
        gemini_stub.requests_per_day, groq_stub.requests_per_day = 2, 3
        chain = [
            _backend("gemini", gemini_stub),
            _backend("groq", groq_stub),
            make_backend("offline"),
        ]
        result = run_task(LabelTask(batch_size=BATCH), items, chain, cache, **FAST)

        by_backend = {r["key"]: r["backend"] for r in result.rows}
        assert [by_backend[i.key] for i in items] == (
            ["gemini"] * 10 + ["groq"] * 15 + ["offline"] * 5
        )
        assert result.complete and [s.backend for s in result.stops] == ["gemini", "groq"]
        assert result.stats["answered_by"] == (
            "gemini/gemini-2.5-flash: 10, groq/llama-3.3-70b-versatile: 15, "
            "offline/darija-lexicon-v1: 5"
        )

        # the next day: what gemini and groq answered comes from the cache, whoever answered
        # it; only the offline stand-ins (never cached) are asked of the first teacher
        sent = len(gemini_stub.requests), len(groq_stub.requests)
        gemini_stub.requests_per_day = groq_stub.requests_per_day = None
        rerun = run_task(LabelTask(batch_size=BATCH), items, chain, cache, **FAST)
        assert len(groq_stub.requests) == sent[1]
        asked = [t for r in gemini_stub.requests[sent[0] :] for t in texts_in(r)]
        assert sorted(asked) == sorted(i.text for i in items[25:])
        assert rerun.stats["cache_hits"] == 25 and rerun.rows[:25] == result.rows[:25]
        assert {r["backend"] for r in rerun.rows[25:]} == {"gemini"}


def test_a_chain_without_an_offline_form_leaves_the_rest_pending():
    from darija_assets.llm.tasks.translate import TranslationTask

    def translator(request):
        return json.dumps(
            {
                "translations": [
                    {"id": it["id"], "input_en": "I am sad", "output_en": "It will pass"}
                    for it in request.items()
                ]
            }
        )

    items = [TranslationTask.work_item(f"p{i}", f"راني حزين {i}", "غادي تدوز") for i in range(6)]
    with StubServer(translator) as stub:
        stub.requests_per_day = 1
        chain = [_backend("groq", stub), make_backend("offline")]
        result = run_task(TranslationTask(batch_size=3), items, chain, None, **FAST)
    assert [r["key"] for r in result.rows] == ["p0", "p1", "p2"]
    assert result.pending == ["p3", "p4", "p5"]


def test_the_configured_daily_limit_stops_before_the_vendor_must_refuse(tmp_path):
    items = darija_items(20)
    with StubServer(lexicon_teacher) as stub:
        backend = _backend("groq", stub)
        backend.limits = Limits(rpd=2)
        ledger = QuotaLedger(tmp_path / "ledger.json")
        result = run_task(LabelTask(batch_size=BATCH), items, backend, None, ledger=ledger, **FAST)
    assert [r.outcome for r in stub.requests] == ["ok", "ok"]  # never a 429
    assert len(result.rows) == 10 and len(result.pending) == 10
    assert "2 requests sent today, the limit is 2 per day" in result.stops[0].reason
    saved = json.loads((tmp_path / "ledger.json").read_text())
    assert saved["groq/llama-3.3-70b-versatile"]["requests"] == 2


def test_a_retry_after_longer_than_max_wait_stops_instead_of_sleeping():
    items = darija_items(10)
    with StubServer(lexicon_teacher) as stub:
        stub.inject(
            Fault.rate_limit(retry_after_s=400), when=lambda r: items[5].text in texts_in(r)
        )
        result = run_task(
            LabelTask(batch_size=BATCH), items, _backend("groq", stub), None, max_wait_s=300, **FAST
        )
    assert len(result.rows) == 5 and result.pending == [i.key for i in items[5:]]
    assert "asked to wait 400 s, more than max_wait_s 300 s" in result.stops[0].reason
    assert result.stats["elapsed_s"] < 60  # it did not sleep 400 s (a bound, not a timing)


def test_the_wait_budget_ends_a_429_storm_cleanly():
    items = darija_items(10)
    with StubServer(lexicon_teacher) as stub:
        stub.inject(
            Fault.rate_limit(retry_after_s=0.2),
            times=100,
            when=lambda r: items[5].text in texts_in(r),
        )
        result = run_task(
            LabelTask(batch_size=BATCH),
            items,
            _backend("openai", stub),
            None,
            wait_budget_s=0.5,
            **FAST,
        )
    assert len(result.rows) == 5 and len(result.pending) == 5
    assert "over the wait budget of 0 s" in result.stops[0].reason or (
        "over the wait budget" in result.stops[0].reason
    )
    assert 0.5 < result.stats["rate_limit_wait_s"] < 1.0
    assert result.stats["rate_limited"] == 3  # 0.2 s x 3 > 0.5 s


def test_vendor_defaults_and_overrides():
    groq = vendor_limits("groq", "llama-3.3-70b-versatile")
    assert (groq.rpm, groq.tpm, groq.rpd, groq.tpd) == (30, 12_000, 1_000, 100_000)
    assert "console.groq.com/docs/rate-limits" in groq.source
    gemini = vendor_limits("gemini", "gemini-2.5-flash")
    assert (gemini.rpm, gemini.rpd) == (10, 250) and "ai.google.dev" in gemini.source
    assert vendor_limits("openai", "anything").rpm is None
    assert with_overrides(groq, rpm=0, rpd=50) == Limits(
        rpm=None, tpm=12_000, rpd=50, tpd=100_000, source="config"
    )
    assert with_overrides(groq, rpm=None) is groq
    with pytest.raises(ValueError, match="rpd must be positive"):
        Limits(rpd=0)


def test_gemini_days_end_at_midnight_pacific():
    noon_utc = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)  # 05:00 PDT
    assert next_day_start("gemini", noon_utc) == datetime(2026, 7, 2, 7, 0, tzinfo=timezone.utc)
    assert next_day_start("groq", noon_utc) == datetime(2026, 7, 2, 0, 0, tzinfo=timezone.utc)
