"""The openai backend with the REAL openai SDK against the stub's /v1/chat/completions.

Why: open-weight teachers (Atlas-Chat-9B and friends) are served by vLLM, SGLang,
Ollama or llama.cpp, which all speak this API. These tests pin what such servers do:
structured output where supported, a 400 for response_format where not (fall back
once, parse leniently), Gemma templates without a system role, 429 with retry-after,
5xx, a server that is not there, and the x-ratelimit headers some of them send.
"""

from __future__ import annotations

import json
import socket

import pytest

from darija_assets.llm import lexicon
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import LLMError
from darija_assets.llm.quotas import QuotaLedger
from darija_assets.llm.runner import IncompleteRun, run_task
from darija_assets.llm.stub_server import Fault, StubServer
from darija_assets.llm.tasks.labels import DEFAULT_LABELS, LabelTask

from .conftest import FAKE_KEY, darija_items, lexicon_teacher

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "seed": 3}


def _openai(stub: StubServer, model: str = "llama-3.1-8b-instruct", **options):
    return make_backend(
        "openai", base_url=stub.url + "/v1", model=model, timeout_s=10, env={}, **options
    )


def _labels(rows):
    return {row["key"]: row["label"] for row in rows}


def test_labels_with_json_schema_structured_output(stub):
    items = darija_items(25)
    result = run_task(LabelTask(batch_size=10), items, _openai(stub), None, **FAST)

    assert _labels(result.rows) == {i.key: lexicon.label(i.text) for i in items}
    assert len(stub.requests) == 3 and {r.vendor for r in stub.requests} == {"openai"}
    first = stub.requests[0]
    assert first.body["response_format"]["type"] == "json_schema"
    assert first.schema["properties"]["labels"]["items"]["properties"]["label"]["enum"] == list(
        DEFAULT_LABELS
    )
    # a server that enforces the schema needs no copy of it in the prompt
    assert "matching this JSON schema" not in first.system
    assert [m["role"] for m in first.body["messages"]] == ["system", "user"]
    assert {(r["backend"], r["model"]) for r in result.rows} == {
        ("openai", "llama-3.1-8b-instruct")
    }


def test_the_key_is_optional_and_taken_from_the_environment(stub):
    backend = make_backend(
        "openai", base_url=stub.url + "/v1", model="m", env={"OPENAI_API_KEY": FAKE_KEY}
    )
    run_task(LabelTask(), darija_items(2), backend, None, **FAST)
    assert stub.requests[0].has_api_key
    with pytest.raises(Exception, match="base_url"):
        make_backend("openai", model="m", env={})


def test_a_server_without_structured_output_gets_one_400_then_lenient_parsing(stub):
    stub.reject_response_format = True
    items = darija_items(12)
    backend = _openai(stub)
    result = run_task(LabelTask(batch_size=12), items, backend, None, concurrency=1, **FAST)

    assert [r.outcome for r in stub.requests] == ["bad_request", "ok"]
    assert "response_format" not in stub.requests[1].body
    assert "matching this JSON schema" in stub.requests[1].system  # the schema now in words
    assert backend.structured_output == "none"
    assert _labels(result.rows) == {i.key: lexicon.label(i.text) for i in items}
    # stays on lenient parsing: no further 400s
    run_task(LabelTask(batch_size=12), darija_items(12, prefix="b"), backend, None, **FAST)
    assert [r.outcome for r in stub.requests][2:] == ["ok"]


def test_an_explicit_json_schema_mode_does_not_fall_back(stub):
    stub.reject_response_format = True
    backend = _openai(stub, structured_output="json_schema")
    with pytest.raises(
        LLMError, match=r"openai 400 at http://127\.0\.0\.1:\d+/v1: response_format"
    ):
        run_task(LabelTask(), darija_items(2), backend, None, **FAST)


@pytest.mark.parametrize(
    ("model", "mode", "folded"),
    [
        ("gemma-2-9b-it", "auto", True),
        ("MBZUAI-Paris/Atlas-Chat-9B", "auto", True),
        ("google/gemma-3-4b-it", "auto", True),
        ("llama-3.1-8b-instruct", "auto", False),
        ("gemma-2-9b-it", "native", False),
        ("llama-3.1-8b-instruct", "fold", True),
    ],
)
def test_system_text_is_folded_for_templates_without_a_system_role(stub, model, mode, folded):
    run_task(
        LabelTask(), darija_items(3), _openai(stub, model=model, system_role=mode), None, **FAST
    )
    messages = stub.requests[0].body["messages"]
    task_system = LabelTask().build_prompt(darija_items(3)).system
    if folded:
        assert [m["role"] for m in messages] == ["user"]
        assert messages[0]["content"].startswith(task_system + "\n\n")
        assert "Label these 3 sentences" in messages[0]["content"]
    else:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == task_system


def test_429_retry_after_and_5xx_are_retried(stub):
    stub.inject(Fault.rate_limit(retry_after_s=0.3))
    stub.inject(Fault.server_error(503))
    items = darija_items(6)
    result = run_task(LabelTask(batch_size=6), items, _openai(stub), None, concurrency=1, **FAST)

    assert [r.outcome for r in stub.requests] == ["rate_limited", "server_error", "ok"]
    assert stub.requests[1].received_at - stub.requests[0].received_at >= 0.3
    assert (result.stats["rate_limited"], result.stats["transient_errors"]) == (1, 1)
    assert len(result.rows) == 6


def test_errors_name_the_cause_and_the_url_never_the_key(stub):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = make_backend("openai", base_url=url, model="m", api_key=FAKE_KEY, timeout_s=2)
    with pytest.raises(IncompleteRun) as refused:
        run_task(LabelTask(), darija_items(2), backend, None, max_transport_retries=1, **FAST)
    reasons = set(refused.value.unanswered.values())
    assert len(reasons) == 1
    (reason,) = reasons
    assert f"connection refused at {url}" in reason and FAKE_KEY not in reason

    stub.inject(Fault.server_error(502), times=10)
    with pytest.raises(IncompleteRun) as server:
        run_task(LabelTask(), darija_items(2), _openai(stub), None, max_transport_retries=1, **FAST)
    (reason,) = set(server.value.unanswered.values())
    assert f"openai server error 502 at {stub.url}/v1" in reason

    stub._rules.clear()
    stub.inject(Fault.slow(1.5))
    slow = make_backend("openai", base_url=stub.url + "/v1", model="m", timeout_s=0.5)
    with pytest.raises(IncompleteRun) as timeout:
        run_task(LabelTask(), darija_items(2), slow, None, max_transport_retries=0, **FAST)
    (reason,) = set(timeout.value.unanswered.values())
    assert f"timed out after 0.5 s at {stub.url}/v1" in reason


def test_quota_headers_reach_the_ledger(stub):
    stub.requests_per_day = 100
    ledger = QuotaLedger(None)
    backend = _openai(stub)
    run_task(
        LabelTask(batch_size=5),
        darija_items(15),
        backend,
        None,
        ledger=ledger,
        concurrency=1,
        **FAST,
    )
    usage = ledger.usage("openai", backend.model)
    assert usage.requests == 3
    assert usage.reported["remaining_requests"] == 97 and usage.reported["limit_requests"] == 100
    assert usage.reported["reset_requests_s"] == 1 * 3600 + 26 * 60 + 24


def test_the_stub_speaks_the_chat_completions_error_body(stub):
    """The error shape vLLM / OpenAI send, as the SDK sees it."""
    import openai

    stub.inject(Fault.rate_limit(retry_after_s=2))
    client = openai.OpenAI(api_key=FAKE_KEY, base_url=stub.url + "/v1", max_retries=0)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert err.value.response.headers["retry-after"] == "2"
    assert err.value.code == "rate_limit_exceeded"
    answer = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": json.dumps([{"id": "1", "text": "x"}])}]
    )
    assert answer.choices[0].message.content == lexicon_teacher(stub.requests[-1])


def test_an_incomplete_run_says_why_in_its_message():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = make_backend("openai", base_url=url, model="m", api_key=FAKE_KEY, timeout_s=2)
    with pytest.raises(IncompleteRun) as refused:
        run_task(LabelTask(), darija_items(3), backend, None, max_transport_retries=0, **FAST)
    message = str(refused.value)
    assert message.startswith("3 of 3 items got no answer from openai")
    assert f"Last errors: 3 x 1 transport failures, last: openai connection refused at {url}" in (
        message
    )
    assert FAKE_KEY not in message
