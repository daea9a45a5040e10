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
from darija_assets.llm.stub_server import Fault, StubServer, lexicon_label_teacher
from darija_assets.resources import CrawlerResource, LLMResource, StorageResource
from darija_assets.storage import Layout
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
        max_retries=2,
        **key,
        **options,
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
