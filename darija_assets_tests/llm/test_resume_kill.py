"""kill -9 in the middle of labelling, then run again: nothing lost, nothing paid twice.

Why: the original notebook died at sentence 16,345 and its progress died with it.
Here a labelling process is killed with SIGKILL (no cleanup, no atexit) after some
batches were committed; the rerun must ask only for sentences whose answers were
never committed, and end with every sentence exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from darija_assets.llm import lexicon
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import cache_key
from darija_assets.llm.cache import AnswerCache
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import StubServer
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets_tests import REPO_ROOT

from .conftest import FAKE_KEY, darija_items, lexicon_teacher, texts_in
from .label_worker import BATCH_SIZE

N = 40


@pytest.mark.slow  # starts a subprocess
def test_kill_9_then_rerun_resends_only_unanswered(tmp_path):
    cache_path = tmp_path / "answers.sqlite"
    items = darija_items(N)
    with StubServer(lexicon_teacher, latency_s=0.25) as stub:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "darija_assets_tests.llm.label_worker",
                stub.url,
                str(cache_path),
                str(N),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            committed = 0
            while committed < 2 * BATCH_SIZE:
                assert worker.poll() is None, worker.stderr.read().decode()
                assert time.monotonic() < deadline, "the worker never committed two batches"
                time.sleep(0.05)
                if cache_path.exists():
                    with AnswerCache(cache_path) as peek:
                        committed = peek.count()
            os.kill(worker.pid, signal.SIGKILL)
            assert worker.wait(timeout=10) == -signal.SIGKILL
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

        backend = make_backend("groq", api_key=FAKE_KEY, base_url=stub.url)
        task = LabelTask(batch_size=BATCH_SIZE)
        with AnswerCache(cache_path) as cache:
            done_before = cache.get_many(
                cache_key(backend.name, backend.model, task, i) for i in items
            )
            answered = {
                i.text
                for i in items
                if cache_key(backend.name, backend.model, task, i) in done_before
            }
            assert 2 * BATCH_SIZE <= len(answered) < N  # killed mid-run, some work durable
            assert len(answered) % BATCH_SIZE == 0  # whole batches, never half of one
            before_rerun = len(stub.requests)

            result = run_task(task, items, backend, cache, concurrency=2)

        rerun_requests = stub.requests[before_rerun:]
        resent = [t for r in rerun_requests for t in texts_in(r)]
        assert not answered & set(resent)  # nothing committed was asked again
        assert sorted(resent) == sorted(i.text for i in items if i.text not in answered)
        assert result.stats["cache_hits"] == len(answered)
        assert [row["key"] for row in result.rows] == [i.key for i in items]  # each exactly once
        assert {row["key"]: row["label"] for row in result.rows} == {
            i.key: lexicon.label(i.text) for i in items
        }
