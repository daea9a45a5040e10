"""The three LLM steps as Dagster materializations, with the resources configured as
a user would (a vendor backend, a key, a base URL) and the real groq and google-genai
SDKs talking to the local stub server. This proves the wiring the unit tests of
llm/ and therapy/ cannot: resource -> backend -> shared cache -> table and metadata."""

from __future__ import annotations

import math

import dagster as dg
import polars as pl
import pytest

from darija_assets.assets.corpus import clean_text, raw_corpus, sentences
from darija_assets.assets.labels import teacher_labels
from darija_assets.assets.therapy import therapy_pairs
from darija_assets.assets.translations import translations
from darija_assets.llm.cache import cache_path
from darija_assets.llm.stub_server import Fault, StubServer, lexicon_label_teacher
from darija_assets.resources import CrawlerResource, LLMResource, StorageResource
from darija_assets.storage import Layout
from darija_assets_tests.metadata_blocks import read_block
from darija_assets_tests.therapy.teachers import FAKE_KEY, therapist, translator

pytestmark = pytest.mark.slow

LABEL_BATCH = 40


def _materialize(assets, partition, instance, **resources) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        assets,
        partition_key=partition,
        instance=instance,
        resources={"storage": StorageResource(), "crawler": CrawlerResource(), **resources},
        raise_on_error=True,
    )
    assert result.success
    return result


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == asset
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _vendor(stub: StubServer, vendor: str, **options) -> LLMResource:
    key = {"gemini": {"gemini_api_key": FAKE_KEY}, "groq": {"groq_api_key": FAKE_KEY}}[vendor]
    return LLMResource(
        backend=vendor,
        gemini_base_url=stub.url,
        groq_base_url=stub.url,
        requests_per_minute=0,
        tokens_per_minute=0,
        **{"max_retries": 2, **key, **options},
    )


@pytest.fixture(scope="module")
def corpus(env, instance):
    _materialize(
        [raw_corpus, clean_text, sentences],
        "sample",
        instance,
        pipes_subprocess_client=dg.PipesSubprocessClient(),
    )
    return Layout(env)


def test_groq_labels_every_sentence_once_then_serves_the_rerun_from_cache(corpus, instance):
    sentence_ids = pl.read_parquet(corpus.table("sentences", "sample"))["sentence_id"]
    with StubServer(lexicon_label_teacher) as stub:
        stub.inject(Fault.rate_limit(retry_after_s=0.2))
        first = _materialize([teacher_labels], "sample", instance, llm=_vendor(stub, "groq"))
        requests_first = len(stub.requests)
        second = _materialize([teacher_labels], "sample", instance, llm=_vendor(stub, "groq"))
        requests_second = len(stub.requests) - requests_first

    labels = pl.read_parquet(corpus.table("teacher_labels", "sample"))
    assert labels["sentence_id"].sort().to_list() == sentence_ids.sort().to_list()
    assert set(labels["backend"]) == {"groq"}
    assert set(labels["model"]) == {"llama-3.3-70b-versatile"}
    meta = _meta(first, "teacher_labels")
    assert meta["rate_limited"] == 1
    # one 429, then one request per batch of sentences
    assert requests_first == 1 + math.ceil(len(sentence_ids) / LABEL_BATCH)
    assert requests_second == 0
    assert _meta(second, "teacher_labels")["cache_hits"] == len(sentence_ids)


def test_gemini_pairs_and_groq_translations_through_the_resources(corpus, instance):
    with StubServer(lexicon_label_teacher) as stub:
        _materialize([teacher_labels], "sample", instance, llm=_vendor(stub, "groq"))
    labels = pl.read_parquet(corpus.table("teacher_labels", "sample"))
    emotion = (
        labels["label"].value_counts(sort=True).filter(pl.col("label") != "Neutral")["label"][0]
    )
    available = labels.filter(pl.col("label") == emotion).height

    run_config = {"ops": {"therapy_pairs": {"config": {"quotas": {emotion: 5}}}}}
    with StubServer(therapist()) as stub:
        result = dg.materialize(
            [therapy_pairs],
            partition_key=emotion,
            instance=instance,
            run_config=run_config,
            resources={"storage": StorageResource(), "llm": _vendor(stub, "gemini")},
        )
        assert result.success
        assert stub.requests and all(r.vendor == "gemini" for r in stub.requests)
    pairs = pl.read_parquet(corpus.table("therapy_pairs", emotion))
    assert pairs.height == min(5, available)
    assert set(pairs["backend"]) == {"gemini"}
    assert set(pairs["sentence_id"]) <= set(labels["sentence_id"])

    with StubServer(translator()) as stub:
        result = _materialize([translations], emotion, instance, translator=_vendor(stub, "groq"))
    translated = pl.read_parquet(corpus.table("translations", emotion))
    assert sorted(translated["pair_id"]) == sorted(pairs["pair_id"])
    assert set(translated["backend"]) == {"groq"}
    assert _meta(result, "translations")["status"] == "complete"


def test_translations_without_a_translator_are_skipped_honestly(corpus, instance):
    emotion = pl.read_parquet(corpus.table("teacher_labels", "sample"))["label"][0]
    _materialize([therapy_pairs], emotion, instance, llm=LLMResource(backend="offline"))
    result = _materialize([translations], emotion, instance, translator=LLMResource(backend="auto"))
    meta = _meta(result, "translations")
    assert meta["status"] == "skipped"
    assert "no translator" in meta["reason"]
    assert pl.read_parquet(corpus.table("translations", emotion)).height == 0
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "translated" and not check.passed


def _openai(stub: StubServer, **options) -> LLMResource:
    return LLMResource(
        backend="openai",
        openai_base_url=stub.url + "/v1",
        # a Gemma-2 model served by vLLM: its template has no system role
        openai_model="MBZUAI-Paris/Atlas-Chat-9B",
        max_retries=2,
        **options,
    )


def _forget_answers(corpus: Layout) -> None:
    """A fresh answer cache and quota ledger (the SQLite file with its WAL companions)."""
    answers = cache_path(corpus)
    for path in (
        answers,
        answers.with_name(answers.name + "-wal"),
        answers.with_name(answers.name + "-shm"),
        corpus.cache("llm_quota_ledger.json"),
    ):
        path.unlink(missing_ok=True)


def _labelled_keys(corpus: Layout) -> list[str]:
    return pl.read_parquet(corpus.table("teacher_labels", "sample"))["sentence_id"].to_list()


def test_openai_server_labels_the_sample_corpus_then_the_rerun_asks_nothing(corpus, instance):
    sentence_ids = pl.read_parquet(corpus.table("sentences", "sample"))["sentence_id"]
    with StubServer(lexicon_label_teacher) as stub:
        first = _materialize([teacher_labels], "sample", instance, llm=_openai(stub))
        requests_first = len(stub.requests)
        _materialize([teacher_labels], "sample", instance, llm=_openai(stub))
        requests_second = len(stub.requests) - requests_first
        bodies = [r.body for r in stub.requests]

    labels = pl.read_parquet(corpus.table("teacher_labels", "sample"))
    assert labels["sentence_id"].sort().to_list() == sentence_ids.sort().to_list()
    assert set(labels["backend"]) == {"openai"}
    assert set(labels["model"]) == {"MBZUAI-Paris/Atlas-Chat-9B"}
    assert requests_first == math.ceil(len(sentence_ids) / LABEL_BATCH) and requests_second == 0
    # structured output requested, and the system text folded into the user turn
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies)
    assert all([m["role"] for m in b["messages"]] == ["user"] for b in bodies)
    meta = _meta(first, "teacher_labels")
    teacher = read_block(meta["teacher"])
    assert teacher["teachers"] == "openai/MBZUAI-Paris/Atlas-Chat-9B"
    assert teacher["teacher_choice"] == "configured: openai" and meta["status"] == "complete"


def test_a_daily_quota_ends_the_step_cleanly_and_the_next_run_finishes_it(corpus, instance):
    import json

    sentence_ids = pl.read_parquet(corpus.table("sentences", "sample"))["sentence_id"]
    assert len(sentence_ids) > 2 * LABEL_BATCH
    # a fresh cache: nothing answered yet by this teacher
    _forget_answers(corpus)
    with StubServer(lexicon_label_teacher) as stub:
        stub.requests_per_day = 2
        first = _materialize(
            [teacher_labels], "sample", instance, llm=_vendor(stub, "groq", concurrency=1)
        )
        asked_first = [t["text"] for r in stub.requests if r.outcome == "ok" for t in r.items()]

        meta = _meta(first, "teacher_labels")
        assert meta["status"] == "partial"
        teacher = read_block(meta["teacher"])
        assert teacher["progress"] == f"{2 * LABEL_BATCH} of {len(sentence_ids)} items"
        assert meta["pending"] == len(sentence_ids) - 2 * LABEL_BATCH
        assert teacher["quota_resets_at"] and teacher["rate_limit_wait_s"] == 0
        assert len(_labelled_keys(corpus)) == 2 * LABEL_BATCH
        [complete] = [c for c in first.get_asset_check_evaluations() if c.check_name == "complete"]
        assert not complete.passed

        # the quota day passes (the ledger's reset time moves into the past)
        ledger_path = corpus.cache("llm_quota_ledger.json")
        ledger = json.loads(ledger_path.read_text())
        for usage in ledger.values():
            usage["exhausted_until"] = "2000-01-01T00:00:00+00:00"
        ledger_path.write_text(json.dumps(ledger))
        stub.requests_per_day, stub.answered_today = None, 0
        before = len(stub.requests)
        second = _materialize(
            [teacher_labels], "sample", instance, llm=_vendor(stub, "groq", concurrency=1)
        )
        asked_second = [t["text"] for r in stub.requests[before:] for t in r.items()]

    assert not set(asked_first) & set(asked_second)  # 0 repeated requests
    assert len(asked_first) + len(asked_second) == len(sentence_ids)
    assert _meta(second, "teacher_labels")["status"] == "complete"
    assert sorted(_labelled_keys(corpus)) == sorted(sentence_ids.to_list())


def test_overriding_only_the_base_url_in_run_config_keeps_the_key(corpus, instance, monkeypatch):
    """Reproduced first: with the key set through EnvVar and run config naming only
    groq_base_url, the step used to label offline without a word."""
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    _forget_answers(corpus)  # so the teacher is asked
    configured = LLMResource(groq_api_key=dg.EnvVar("GROQ_API_KEY"))
    with StubServer(lexicon_label_teacher) as stub:
        run_config = {
            "resources": {
                "llm": {
                    "config": {
                        "groq_base_url": stub.url,
                        "requests_per_minute": 0,
                        "tokens_per_minute": 0,
                    }
                }
            }
        }
        result = dg.materialize(
            [teacher_labels],
            partition_key="sample",
            instance=instance,
            run_config=run_config,
            resources={"storage": StorageResource(), "llm": configured},
        )
        assert result.success and stub.requests and all(r.has_api_key for r in stub.requests)
    assert set(pl.read_parquet(corpus.table("teacher_labels", "sample"))["backend"]) == {"groq"}
    teacher = read_block(_meta(result, "teacher_labels")["teacher"])
    assert teacher["teacher_choice"] == "auto: GROQ_API_KEY is set"


def test_a_configured_backend_that_cannot_run_fails_unless_fallback(corpus, instance):
    with pytest.raises(Exception, match="backend 'groq' is configured but cannot run"):
        _materialize([teacher_labels], "sample", instance, llm=LLMResource(backend="groq"))
    result = _materialize(
        [teacher_labels], "sample", instance, llm=LLMResource(backend="groq,offline", fallback=True)
    )
    meta = _meta(result, "teacher_labels")
    teacher = read_block(meta["teacher"])
    assert teacher["teachers"] == "offline/offline"
    assert "skipped groq: groq needs an API key (GROQ_API_KEY)" in teacher["teacher_choice"]


def test_a_teacher_that_answers_only_garbage_fails_the_step_with_reasons(corpus, instance):
    _forget_answers(corpus)
    with StubServer(lambda _request: "Sorry, I cannot do that.") as stub:
        result = dg.materialize(
            [teacher_labels],
            partition_key="sample",
            instance=instance,
            raise_on_error=False,
            resources={"storage": StorageResource(), "llm": _vendor(stub, "groq", max_retries=0)},
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error.message)
    assert "the teacher produced no usable answer (0 accepted" in message
    assert "x answer is not valid JSON: it holds no JSON object or array" in message
