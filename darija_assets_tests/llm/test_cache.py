"""The answer cache is the durable progress record of every LLM step: it must keep
what was committed, all or nothing per batch, with several writers at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from darija_assets.llm.base import Accepted, Rejected
from darija_assets.llm.cache import AnswerCache, CachedAnswer

REPO_ROOT = Path(__file__).resolve().parents[2]


def _answer(key: str, verdict=None, latency_s=0.5) -> CachedAnswer:
    return CachedAnswer(cache_key=key, task="labels", prompt_version="v1", backend="groq",
                        model="m", verdict=verdict or Accepted({"label": "Joy"}),
                        latency_s=latency_s, input_tokens=10, output_tokens=3)


def test_verdicts_round_trip(tmp_path):
    with AnswerCache(tmp_path / "c.sqlite") as cache:
        cache.put_many([
            _answer("a", Accepted({"label": "Love"}, raw=" love ")),
            _answer("b", Rejected("label 'X' is not one of Joy", raw="X")),
        ])
    with AnswerCache(tmp_path / "c.sqlite") as reopened:
        found = reopened.get_many(["a", "b", "missing"])
        assert set(found) == {"a", "b"}
        assert found["a"].verdict == Accepted({"label": "Love"}, raw=" love ")
        assert found["b"].verdict == Rejected("label 'X' is not one of Joy", raw="X")
        assert (found["a"].input_tokens, found["a"].output_tokens, found["a"].latency_s) == (10, 3, 0.5)
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
    other = subprocess.Popen([sys.executable, "-c", writer, str(path)], cwd=REPO_ROOT,
                             stderr=subprocess.PIPE)
    mine = AnswerCache(path)
    for b in range(40):
        mine.put_many([_answer(f"m{b}-{i}") for i in range(10)])
    assert other.wait(timeout=60) == 0, other.stderr.read().decode()
    assert mine.count() == 800
