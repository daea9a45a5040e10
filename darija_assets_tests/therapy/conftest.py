"""Fixtures for the therapy tests: a stub server playing the therapist and the
translator, and backends built with the real SDKs pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Backend
from darija_assets.llm.stub_server import StubServer
from darija_assets_tests.therapy.teachers import FAKE_KEY, therapist

#: runner options that keep retries fast in tests
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(therapist()) as server:
        yield server


@pytest.fixture
def backend_for(stub: StubServer) -> Callable[..., Backend]:
    """``backend_for("groq")``: a real-SDK backend talking to the stub."""

    def build(vendor: str, model: str | None = None) -> Backend:
        return make_backend(vendor, model=model, api_key=FAKE_KEY, base_url=stub.url, timeout_s=10)

    return build
