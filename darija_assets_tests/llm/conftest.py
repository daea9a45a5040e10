"""Shared fixtures for the LLM tests: a stub server whose teacher labels sentences
with the lexicon (an independent, deterministic answer key), backends built with
the real SDKs pointed at it, and small Darija sentence sets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Backend, WorkItem
from darija_assets.llm.stub_server import StubRequest, StubServer
from darija_assets.llm.stub_server import lexicon_label_teacher as lexicon_teacher

#: test-only key; the stub only checks that one was sent
FAKE_KEY = "test-key-not-a-secret"

SENTENCES = [
    "كنبغيك بزاف أ حبيبتي",
    "توحشتك يا ماما",
    "أنا فرحان اليوم بزاف",
    "هههههه ضحكتيني",
    "خايفة من الليل بوحدي",
    "راني زعفان عليك",
    "بكيت حتى تعييت",
    "تصدمت ماتيقتش داكشي",
    "مشيت للسوق وشريت الخبز",
    "المدرسة فيها عشرين قسم",
]


def darija_items(n: int, prefix: str = "s") -> list[WorkItem]:
    """``n`` distinct sentences (a numbered variant of each base sentence)."""
    return [
        WorkItem(key=f"{prefix}{i:04d}", text=f"{SENTENCES[i % len(SENTENCES)]} {i}")
        for i in range(n)
    ]


def texts_in(request: StubRequest) -> list[str]:
    return [item["text"] for item in request.items()]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(lexicon_teacher) as server:
        yield server


@pytest.fixture(params=["gemini", "groq"])
def vendor(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def backend(stub: StubServer, vendor: str) -> Backend:
    return make_backend(vendor, api_key=FAKE_KEY, base_url=stub.url, timeout_s=10)
