"""A teacher that returns garbage, then recovers: rejections are not forever.

Issue 10 measured it: after a teacher answered only garbage, the rerun sent 0
requests and replayed every cached rejection; the only way out was deleting the
cache. Now a rejection remembers its cause: a malformed answer is asked again by
the next run, a content rejection (a label outside the set after every retry)
stays, and ``reask_rejected`` asks those again too. Real SDK (groq) against the
stub server, one cache file reopened per run as separate runs would.
"""

from __future__ import annotations

import json
from collections import Counter

from darija_assets.llm import lexicon
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import CONTENT, MALFORMED
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import StubRequest, StubServer
from darija_assets.llm.tasks.labels import LabelTask

from .conftest import FAKE_KEY, darija_items, texts_in

N, BATCH, RETRIES = 12, 4, 1
GARBAGE = "Sorry, the model is overloaded right now. Please try again later."


class Teacher:
    """Garbage while ``broken``; then the lexicon's label, except "Bored" (outside the
    label set) for the sentences in ``bored``."""

    def __init__(self) -> None:
        self.broken = True
        self.bored: set[str] = set()

    def __call__(self, request: StubRequest) -> str:
        if self.broken:
            return GARBAGE
        return json.dumps(
            {
                "labels": [
                    {
                        "id": it["id"],
                        "label": "Bored" if it["text"] in self.bored else lexicon.label(it["text"]),
                    }
                    for it in request.items()
                ]
            },
            ensure_ascii=False,
        )


def test_garbage_then_recovery_asks_only_what_was_rejected_for_the_answer_not_the_item(tmp_path):
    items = darija_items(N)
    texts = {i.key: i.text for i in items}
    bored = {items[1].text, items[6].text, items[11].text}
    teacher = Teacher()
    cache_path = tmp_path / "answers.sqlite"

    with StubServer(teacher) as stub:
        backend = make_backend("groq", api_key=FAKE_KEY, base_url=stub.url)

        def run(**options):
            before = len(stub.requests)
            with AnswerCache(cache_path) as cache:
                result = run_task(
                    LabelTask(batch_size=BATCH),
                    items,
                    backend,
                    cache,
                    concurrency=2,
                    max_retries=RETRIES,
                    **options,
                )
            return result, stub.requests[before:]

        # -- 1. garbage: every item rejected as malformed --------------------------------
        first, sent = run()
        assert first.rows == [] and len(first.quarantined) == N
        assert all(q["reason"].startswith("answer is not valid JSON") for q in first.quarantined)
        # each item asked 1 + RETRIES times: N / BATCH batches, then every item alone
        assert len(sent) == first.stats["requests_sent"] == N // BATCH + N
        assert Counter(t for r in sent for t in texts_in(r)) == {
            t: 1 + RETRIES for t in texts.values()
        }
        with AnswerCache(cache_path) as cache:
            assert cache.counts(["status", "cause"]) == [(("rejected", MALFORMED), N)]

        # -- 2. the teacher recovered: every malformed item is asked again, once ----------
        teacher.broken, teacher.bored = False, bored
        second, sent = run()
        assert second.stats["cache_hits"] == 0 and second.stats["reasked"] == N
        assert Counter(t for r in sent for t in texts_in(r)) == {
            t: 1 + RETRIES if t in bored else 1 for t in texts.values()
        }
        assert len(sent) == second.stats["requests_sent"] == N // BATCH + len(bored)
        assert {r["key"]: r["label"] for r in second.rows} == {
            k: lexicon.label(t) for k, t in texts.items() if t not in bored
        }
        assert {q["key"] for q in second.quarantined} == {k for k, t in texts.items() if t in bored}
        assert all("'Bored' is not one of" in q["reason"] for q in second.quarantined)
        with AnswerCache(cache_path) as cache:
            assert cache.counts(["status", "cause"]) == [
                (("accepted", None), N - len(bored)),
                (("rejected", CONTENT), len(bored)),
            ]

        # -- 3. content rejections stay: nothing is asked --------------------------------
        third, sent = run()
        assert sent == [] and third.stats["cache_hits"] == N and third.stats["reasked"] == 0
        assert (len(third.rows), len(third.quarantined)) == (N - len(bored), len(bored))

        # -- 4. unless the run says to re-ask them (after the label set was fixed) -------
        teacher.bored = set()
        fourth, sent = run(reask_rejected=True)
        assert [sorted(texts_in(r)) for r in sent] == [sorted(bored)]  # one request, only those
        assert fourth.stats["cache_hits"] == N - len(bored)
        assert fourth.stats["reasked"] == len(bored)
        assert fourth.quarantined == []
        assert {r["key"]: r["label"] for r in fourth.rows} == {
            k: lexicon.label(t) for k, t in texts.items()
        }

    with AnswerCache(cache_path) as cache:  # no manual step at any point, nothing left over
        assert cache.counts(["status"]) == [(("accepted",), N)]
        assert cache.claims() == []


def test_a_missing_id_is_a_malformed_answer_not_a_judgement_of_the_item(tmp_path):
    """An answer that skipped an item said nothing about it: a later run asks again."""
    items = darija_items(4)
    skipped = items[2].text

    def forgetful(request: StubRequest) -> str:
        return json.dumps(
            {
                "labels": [
                    {"id": it["id"], "label": lexicon.label(it["text"])}
                    for it in request.items()
                    if it["text"] != skipped
                ]
            }
        )

    with StubServer(forgetful) as stub, AnswerCache(tmp_path / "a.sqlite") as cache:
        backend = make_backend("groq", api_key=FAKE_KEY, base_url=stub.url)
        result = run_task(LabelTask(batch_size=4), items, backend, cache, max_retries=1)
        assert [q["key"] for q in result.quarantined] == [items[2].key]
        assert cache.counts(["status", "cause"]) == [
            (("accepted", None), 3),
            (("rejected", MALFORMED), 1),
        ]
        again = run_task(LabelTask(batch_size=4), items, backend, cache, max_retries=1)
        assert again.stats["reasked"] == 1 and again.stats["cache_hits"] == 3
