"""translations with the real SDKs against the stub, and the honest skip without one.

The default translator is Groq's llama-3.3-70b-versatile at temperature 0, as the
original project used it; chatter around a translation is cleaned, Arabic handed
back is quarantined, and with no translator nothing is asked and nothing invented.
"""

from __future__ import annotations

import polars as pl

from darija_assets.llm.backends import make_backend
from darija_assets.llm.cache import AnswerCache
from darija_assets.therapy.translations import (
    NO_TRANSLATOR,
    TRANSLATIONS_SCHEMA,
    open_translator,
    translate_pairs,
)
from darija_assets_tests.therapy.teachers import FAKE_KEY, translator

PAIRS = pl.DataFrame(
    {
        "pair_id": ["a1", "a2", "a3", "a4"],
        "instruction": ["Act as a Moroccan psychologist and help this user."] * 4,
        "input": ["حاس براسي بوحدي", "خايف من غدا", "عصبني صاحبي", "فرحت بزاف"],
        "output": ["أنا معاك. شنو اللي تقل عليك؟", "تنفس بشوية.", "من حقك تغضب.", "تستاهل الفرحة."],
        "emotion": ["Sadness", "Fear", "Anger", "Joy"],
        "style": ["question", "advice", "insight", "insight"],
    }
)


def chatty(pair_id: str, english: str) -> str:
    """a2 gets preambles and quotes, a3 comes back in Arabic."""
    if pair_id == "a2":
        return f'Here is the translation: "{english}"'
    if pair_id == "a3":
        return "من حقك تغضب، هادشي طبيعي"
    return english


def test_translations_are_cleaned_validated_and_cached(stub, tmp_path):
    stub.responder = translator(chatty)
    backend, why_not = open_translator(api_key=FAKE_KEY, base_url=stub.url, env={})
    assert why_not is None
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        result = translate_pairs(PAIRS, backend, cache, max_retries=1, backoff_s=0.01)
        again = translate_pairs(PAIRS, backend, cache, max_retries=1, backoff_s=0.01)

    assert result.skipped is None
    assert result.translations.schema == pl.Schema(TRANSLATIONS_SCHEMA)
    assert result.translations.rows() == [
        (
            "a1",
            "Sadness",
            "The patient says something, item a1.",
            "I understand you, and what you feel makes sense.",
            "groq",
            "llama-3.3-70b-versatile",
        ),
        (
            "a2",
            "Fear",
            "The patient says something, item a2.",
            "I understand you, and what you feel makes sense.",
            "groq",
            "llama-3.3-70b-versatile",
        ),
        (
            "a4",
            "Joy",
            "The patient says something, item a4.",
            "I understand you, and what you feel makes sense.",
            "groq",
            "llama-3.3-70b-versatile",
        ),
    ]
    assert result.quarantine.select("pair_id", "emotion", "reason", "stage").rows() == [
        (
            "a3",
            "Anger",
            "input_en: Arabic script left: 100% of letters are Arabic, at most 10%",
            "translations",
        )
    ]
    first = stub.requests[0]
    assert (first.vendor, first.model, first.temperature) == (
        "groq",
        "llama-3.3-70b-versatile",
        0.0,
    )
    assert [it["id"] for it in first.items()] == ["a1", "a2", "a3", "a4"]
    # a3 asked once more (max_retries=1); the rerun is answered entirely from the cache
    assert [[it["id"] for it in r.items()] for r in stub.requests] == [
        ["a1", "a2", "a3", "a4"],
        ["a3"],
    ]
    assert again.translations.equals(result.translations)
    assert (again.stats["cache_hits"], again.stats["requests_sent"]) == (4, 0)
    assert (result.stats["translated"], result.stats["quarantined"], result.stats["skipped"]) == (
        3,
        1,
        False,
    )


def test_without_a_translator_the_step_is_skipped_and_invents_nothing(stub):
    stub.responder = translator()
    backend, why_not = open_translator(env={})  # no GROQ_API_KEY
    assert backend is None
    assert why_not.startswith(NO_TRANSLATOR) and "GROQ_API_KEY" in why_not

    for candidate, reason in ((backend, why_not), (make_backend("offline"), None)):
        result = translate_pairs(PAIRS, candidate, None, skip_reason=reason)
        assert result.skipped == (reason or NO_TRANSLATOR)
        assert (result.translations.height, result.quarantine.height) == (0, 0)
        assert result.translations.schema == pl.Schema(TRANSLATIONS_SCHEMA)
        assert result.stats == {
            "pairs": 4,
            "translated": 0,
            "skipped": True,
            "skip_reason": result.skipped,
        }
    assert stub.requests == []


def test_auto_without_keys_resolves_to_no_translator():
    backend, why_not = open_translator("auto", model=None, env={})
    assert (backend, why_not) == (None, NO_TRANSLATOR)
