"""The answer cache is the durable progress record of every LLM step: it must keep
what was committed, all or nothing per batch, with several writers at once; keep
each rejection's cause; upgrade old files in place; and let processes that share it
claim questions so that none is asked twice at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from dataclasses import replace

import psutil
import pytest

from darija_assets.llm.base import CONTENT, MALFORMED, TRANSPORT, Accepted, Rejected
from darija_assets.llm.cache import UNKNOWN_CAUSE, AnswerCache, CachedAnswer
from darija_assets_tests import REPO_ROOT


def _answer(key: str, verdict=None, latency_s=0.5) -> CachedAnswer:
    return CachedAnswer(
        cache_key=key,
        task="labels",
        prompt_version="v1",
        backend="groq",
        model="m",
        verdict=verdict or Accepted({"label": "Joy"}),
        latency_s=latency_s,
        input_tokens=10,
        output_tokens=3,
    )


def test_verdicts_round_trip(tmp_path):
    with AnswerCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(
            [
                _answer("a", Accepted({"label": "Love"}, raw=" love ")),
                _answer("b", Rejected("label 'X' is not one of Joy", raw="X")),
            ]
        )
    with AnswerCache(tmp_path / "c.sqlite") as reopened:
        found = reopened.get_many(["a", "b", "missing"])
        assert set(found) == {"a", "b"}
        assert found["a"].verdict == Accepted({"label": "Love"}, raw=" love ")
        assert found["b"].verdict == Rejected("label 'X' is not one of Joy", raw="X")
        assert (found["a"].input_tokens, found["a"].output_tokens, found["a"].latency_s) == (
            10,
            3,
            0.5,
        )
        assert found["a"].created_at  # stamped on write
        assert reopened.count(status="rejected") == 1 and reopened.count(task="labels") == 2
        journal = reopened._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"


def test_a_batch_commits_all_or_nothing(tmp_path):
    cache = AnswerCache(tmp_path / "c.sqlite")
    bad = _answer("bad", latency_s=None)  # violates NOT NULL in the middle of the batch
    with pytest.raises(Exception, match="NOT NULL"):
        cache.put_many([_answer("x"), bad, _answer("y")])
    assert cache.count() == 0
    assert cache.put_many([_answer("x"), _answer("y")]) == 2


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "c.sqlite"
    AnswerCache(path).close()
    writer = (
        "import sys\n"
        "from darija_assets_tests.llm.test_cache import _answer\n"
        "from darija_assets.llm.cache import AnswerCache\n"
        "c = AnswerCache(sys.argv[1])\n"
        "for b in range(40):\n"
        "    c.put_many([_answer(f'p{b}-{i}') for i in range(10)])\n"
    )
    other = subprocess.Popen(
        [sys.executable, "-c", writer, str(path)], cwd=REPO_ROOT, stderr=subprocess.PIPE
    )
    mine = AnswerCache(path)
    for b in range(40):
        mine.put_many([_answer(f"m{b}-{i}") for i in range(10)])
    assert other.wait(timeout=60) == 0, other.stderr.read().decode()
    assert mine.count() == 800


# -- causes, and which verdicts a later run reuses ------------------------------------


def test_rejections_keep_their_cause_and_only_content_ones_are_reused(tmp_path):
    with AnswerCache(tmp_path / "c.sqlite") as cache:
        cache.put_many(
            [
                _answer("ok"),
                _answer("content", Rejected("label 'Bored' is not one of Joy", raw="Bored")),
                _answer("garbage", Rejected("answer is not valid JSON", cause=MALFORMED)),
                _answer("429", Rejected("rate limited 7 times", cause=TRANSPORT)),
            ]
        )
        found = cache.get_many(["ok", "content", "garbage", "429"])
    assert {k: a.verdict.cause for k, a in found.items() if k != "ok"} == {
        "content": CONTENT,
        "garbage": MALFORMED,
        "429": TRANSPORT,
    }
    assert {k for k, a in found.items() if a.reusable()} == {"ok", "content"}
    assert {k for k, a in found.items() if a.reusable(reask_rejected=True)} == {"ok"}


_OLD_SCHEMA = """
CREATE TABLE answers (
    cache_key TEXT PRIMARY KEY, task TEXT NOT NULL, prompt_version TEXT NOT NULL,
    backend TEXT NOT NULL, model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    value_json TEXT, reason TEXT, raw TEXT, input_tokens INTEGER, output_tokens INTEGER,
    latency_s REAL NOT NULL, created_at TEXT NOT NULL)
"""


def test_a_cache_from_before_causes_is_migrated_in_place(tmp_path):
    """Users have real caches: opening one adds the new columns and keeps every answer;
    its rejections (cause unknown) are asked again once, its answers are reused."""
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(_OLD_SCHEMA)
    old.executemany(
        "INSERT INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                "a",
                "labels",
                "labels-v1",
                "groq",
                "m",
                "accepted",
                '{"label": "Joy"}',
                None,
                None,
                10,
                3,
                0.5,
                "2026-11-30T10:00:00+00:00",
            ),
            (
                "b",
                "labels",
                "labels-v1",
                "groq",
                "m",
                "rejected",
                None,
                "answer is not valid JSON",
                "{",
                10,
                3,
                0.5,
                "2026-11-30T10:00:00+00:00",
            ),
        ],
    )
    old.commit()
    old.close()

    with AnswerCache(path) as cache:
        found = cache.get_many(["a", "b"])
        assert found["a"].verdict == Accepted({"label": "Joy"}) and found["a"].reusable()
        assert found["b"].verdict == Rejected(
            "answer is not valid JSON", raw="{", cause=UNKNOWN_CAUSE
        )
        assert not found["b"].reusable()
        cache.put_many([_answer("c")])  # the migrated file takes new answers
        assert cache.get_many(["c"])["c"].seq > found["a"].seq
        assert cache.counts(["status", "cause"]) == [
            (("accepted", None), 2),
            (("rejected", UNKNOWN_CAUSE), 1),
        ]
    with AnswerCache(path) as again:  # opening a migrated file changes nothing
        assert again.count() == 3


def test_counts_group_and_drop_filters(tmp_path):
    with AnswerCache(tmp_path / "c.sqlite") as cache:
        cache.put_many([_answer(f"l{i}") for i in range(3)])
        cache.put_many(
            [replace(_answer(f"p{i}"), task="pairs", backend="gemini") for i in range(2)]
        )
        cache.put_many([_answer("r", Rejected("bad", cause=MALFORMED))])
        assert cache.counts(["task", "backend"]) == [
            (("labels", "groq"), 4),
            (("pairs", "gemini"), 2),
        ]
        assert cache.counts(["cause"], task="labels") == [((None,), 3), (("malformed",), 1)]
        assert cache.count(backend="gemini") == 2
        with pytest.raises(ValueError, match="at least one filter"):
            cache.drop()
        with pytest.raises(ValueError, match="unknown answer cache column"):
            cache.drop(key="x")
        assert cache.drop(task="labels", cause="malformed") == 1
        assert cache.drop(task="pairs") == 2
        assert sorted(cache.get_many(["l0", "l1", "l2", "p0", "r"])) == ["l0", "l1", "l2"]


# -- claims ---------------------------------------------------------------------------


def test_a_claim_held_by_a_live_peer_is_waited_for_then_its_answer_is_taken(tmp_path):
    path = tmp_path / "c.sqlite"
    with AnswerCache(path) as peer, AnswerCache(path) as mine:
        since = mine.last_seq()
        assert peer.claim(["a", "b"], since_seq=since).mine == ["a", "b"]

        first = mine.claim(["a", "b", "c"], since_seq=since)
        assert first.mine == ["c"] and first.held == {"a": peer.owner, "b": peer.owner}

        peer.put_many([_answer("a")])  # answering releases the peer's claim on "a"
        second = mine.claim(["a", "b"], since_seq=since)
        assert set(second.answered) == {"a"} and second.answered["a"].verdict == Accepted(
            {"label": "Joy"}
        )
        assert second.held == {"b": peer.owner} and second.mine == []

        peer.release(["b"])  # gave up without an answer: "b" is free to ask
        assert mine.claim(["b"], since_seq=since).mine == ["b"]
        assert [c["owner"] for c in mine.claims()] == [mine.owner]
        assert mine.claims()[0]["keys"] == 2 and not mine.claims()[0]["gone"]


def test_a_claim_whose_heartbeat_lapsed_is_taken_over(tmp_path):
    path = tmp_path / "c.sqlite"
    with AnswerCache(path, lease_s=30) as peer, AnswerCache(path, lease_s=30) as mine:
        peer.claim(["a"], since_seq=0)
        assert mine.claim(["a"], since_seq=0).held == {"a": peer.owner}
        # as if the peer (a live process on another machine) had been silent for 31 s
        peer._conn.execute("UPDATE claims SET heartbeat_at = heartbeat_at - 31, host = 'elsewhere'")
        taken = mine.claim(["a"], since_seq=0)
        assert taken.mine == ["a"] and taken.taken_over == {"a": peer.owner}


def test_a_claim_of_a_process_that_is_gone_is_taken_over_at_once(tmp_path):
    """The holder exits without closing the cache (as after kill -9): its pid is gone,
    so its claims are taken over without waiting for the lease."""
    path = tmp_path / "c.sqlite"
    holder = (
        "import os, sys\n"
        "from darija_assets.llm.cache import AnswerCache\n"
        "c = AnswerCache(sys.argv[1], lease_s=3600)\n"
        "print(c.claim(['a', 'b'], since_seq=0).mine, c.owner, flush=True)\n"
        "os._exit(0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", holder, str(path)],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    claimed, dead_owner = out.stdout.rsplit(" ", 1)
    assert claimed == "['a', 'b']"
    with AnswerCache(path, lease_s=3600) as mine:
        assert [(c["owner"], c["gone"]) for c in mine.claims()] == [(dead_owner.strip(), True)]
        taken = mine.claim(["a", "b"], since_seq=0)
        assert taken.mine == ["a", "b"] and set(taken.taken_over.values()) == {dead_owner.strip()}


def test_claims_are_renewed_while_held_and_released_on_close(tmp_path):
    path = tmp_path / "c.sqlite"
    mine = AnswerCache(path, lease_s=0.3)
    mine.claim(["a"], since_seq=0)
    first_beat = mine.claims()[0]["heartbeat_at"]
    with AnswerCache(path, lease_s=0.3) as peer:
        # the heartbeat thread renews every lease/3: wait for a renewal, however slow the machine
        while mine.claims()[0]["heartbeat_at"] == first_beat:
            time.sleep(0.05)
        assert peer.claim(["a"], since_seq=0).held == {"a": mine.owner}
        mine.close()
        assert peer.claims() == []
        assert peer.claim(["a"], since_seq=0).mine == ["a"]


def test_a_claim_whose_pid_now_belongs_to_a_younger_process_is_taken_over(tmp_path):
    """pids are reused: a claim made an hour before the process now holding its pid
    started cannot be that process's, however fresh its heartbeat."""
    path = tmp_path / "c.sqlite"
    with AnswerCache(path, lease_s=3600) as peer, AnswerCache(path, lease_s=3600) as mine:
        peer.claim(["a"], since_seq=0)  # a live process (this one) holds it: wait
        assert mine.claim(["a"], since_seq=0).held == {"a": peer.owner}
        started = psutil.Process().create_time()
        peer._conn.execute("UPDATE claims SET claimed_at = ?", (started - 3600,))
        assert mine.claim(["a"], since_seq=0).taken_over == {"a": peer.owner}
