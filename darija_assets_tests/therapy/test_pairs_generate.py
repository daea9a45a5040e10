"""therapy_pairs end to end, with the real groq and google-genai SDKs against the stub.

Balance per emotion is exact, every pair traces back to its sentence and page,
the same seed gives the same pairs, a bigger quota pays only for the new pairs,
and bad answers land in quarantine with the reason instead of the table.
"""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from darija_assets.llm.backends import make_backend
from darija_assets.llm.cache import AnswerCache
from darija_assets.therapy.pairs import PAIRS_SCHEMA, QUARANTINE_SCHEMA, generate_pairs
from darija_assets_tests.therapy.conftest import FAST
from darija_assets_tests.therapy.teachers import labelled_sentences, therapist, therapist_answer

QUOTAS = {"Sadness": 10, "Fear": 5, "Joy": 2, "Neutral": 0}


def asked_ids(stub) -> list[str]:
    return [item["id"] for request in stub.requests for item in request.items()]


@pytest.mark.parametrize("vendor", ["groq", "gemini"])
def test_each_emotion_fills_its_quota_exactly_and_traces_back(stub, backend_for, vendor, tmp_path):
    labels = labelled_sentences({"Sadness": 12, "Fear": 3, "Joy": 8, "Neutral": 4})
    backend = backend_for(vendor)
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        results = {
            e: generate_pairs(labels, e, backend, cache, quotas=QUOTAS, seed=11, **FAST)
            for e in QUOTAS
        }

    assert {e: r.pairs.height for e, r in results.items()} == {
        "Sadness": 10,
        "Fear": 3,
        "Joy": 2,
        "Neutral": 0,
    }
    fear = results["Fear"].stats
    assert (fear["available"], fear["quota"], fear["selected"], fear["shortfall"]) == (3, 5, 3, 2)
    by_sentence = {r["sentence_id"]: r for r in labels.iter_rows(named=True)}
    for emotion, result in results.items():
        assert result.pairs.schema == pl.Schema(PAIRS_SCHEMA)
        assert result.quarantine.height == 0
        for row in result.pairs.iter_rows(named=True):
            source_row = by_sentence[row["sentence_id"]]
            assert (row["input"], row["url"], row["source"], row["emotion"]) == (
                source_row["sentence"],
                source_row["url"],
                source_row["source"],
                emotion,
            )
            assert source_row["label"] == emotion
            assert row["output"] == therapist_answer(
                {"emotion": emotion, "style": row["style"], "id": row["pair_id"]}
            )
            assert row["instruction"] == "Act as a Moroccan psychologist and help this user."
            assert (row["backend"], row["model"]) == (
                vendor,
                {"groq": "llama-3.3-70b-versatile", "gemini": "gemini-2.5-flash"}[vendor],
            )
    # one request per batch of 10, never one per pair; Neutral (quota 0) asks nothing
    assert len(stub.requests) == 3
    assert sorted(asked_ids(stub)) == sorted(
        pid for r in results.values() for pid in r.pairs["pair_id"]
    )


def test_same_seed_same_pairs_across_runs_and_caches(stub, backend_for, tmp_path):
    labels = labelled_sentences({"Anger": 20})
    backend = backend_for("groq")
    runs = []
    for name in ("first", "second"):
        with AnswerCache(tmp_path / f"{name}.sqlite") as cache:
            runs.append(
                generate_pairs(
                    labels.reverse(), "Anger", backend, cache, quota=8, seed=3, **FAST
                ).pairs
            )
        labels = labels.sample(fraction=1.0, shuffle=True, seed=9)
    assert runs[0].equals(runs[1])
    assert len(stub.requests) == 2  # separate caches: both runs really asked


def test_raising_the_quota_asks_only_for_the_new_pairs(stub, backend_for, tmp_path):
    labels = labelled_sentences({"Sadness": 30})
    backend = backend_for("groq")
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        small = generate_pairs(labels, "Sadness", backend, cache, quota=4, seed=5, **FAST)
        first_asked = asked_ids(stub)
        large = generate_pairs(labels, "Sadness", backend, cache, quota=9, seed=5, **FAST)
    second_asked = asked_ids(stub)[len(first_asked) :]
    assert sorted(first_asked) == sorted(small.pairs["pair_id"])
    assert large.pairs.head(4).equals(small.pairs)
    assert sorted(second_asked) == sorted(large.pairs["pair_id"][4:])
    assert (large.stats["cache_hits"], large.stats["requests_sent"], large.stats["pairs"]) == (
        4,
        1,
        9,
    )


def test_bad_answers_are_retried_then_quarantined_with_their_reason(stub, backend_for, tmp_path):
    labels = labelled_sentences({"Sadness": 12})
    backend = backend_for("gemini")
    with AnswerCache(tmp_path / "answers.sqlite") as cache:
        probe = generate_pairs(labels, "Sadness", make_backend("offline"), None, quota=12, seed=2)
        styles = dict(zip(probe.pairs["pair_id"], probe.pairs["style"], strict=True))
        inputs = dict(zip(probe.pairs["pair_id"], probe.pairs["input"], strict=True))
        advice = [p for p, s in styles.items() if s == "advice"]
        others = [p for p, s in styles.items() if s != "advice"]
        bad = {
            advice[0]: "أنا معاك، الحزن صعيب. واش جربتي تخرج تمشى شوية كل نهار؟",
            others[0]: "As an AI, I can only say: take care of yourself and rest well.",
            others[1]: inputs[others[1]],
            others[2]: "Ana m3ak, l7zen s3ib walakin ghadi ydouz inchallah, sber.",
        }
        stub.responder = therapist(bad)
        result = generate_pairs(
            labels, "Sadness", backend, cache, quota=12, seed=2, max_retries=1, **FAST
        )

    reasons = dict(zip(result.quarantine["pair_id"], result.quarantine["reason"], strict=True))
    assert reasons == {
        advice[0]: "advice style must not ask a question (found a question mark)",
        others[0]: "meta or refusal text: 'as an ai'",
        others[1]: "copy of the patient's sentence",
        others[2]: "not Arabic script: 0% of letters are Arabic, need at least 80%",
    }
    assert result.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert set(result.quarantine["stage"]) == {"therapy_pairs"}
    assert result.quarantine["url"].null_count() == 0
    assert sorted(result.pairs["pair_id"]) == sorted(set(styles) - set(bad))
    # each bad item: the first answer plus one retry (max_retries=1), then quarantine
    counts = Counter(i for i in asked_ids(stub))
    assert {p: counts[p] for p in bad} == {p: 2 for p in bad}
    assert all(counts[p] == 1 for p in set(styles) - set(bad))
    assert (result.stats["accepted"], result.stats["quarantined"]) == (8, 4)


def test_offline_default_writes_template_pairs_recorded_as_such():
    labels = labelled_sentences({"Love": 6, "Joy": 2})
    result = generate_pairs(labels, "Love", make_backend("offline"), None, quota=5, seed=1)
    assert result.pairs.height == 5
    assert set(result.pairs["backend"]) == {"offline-templates"}
    assert result.stats["backend"] == "offline-templates"
    assert result.stats["requests_sent"] == 0
