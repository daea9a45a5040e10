"""Claims in the answer cache: processes that share it never ask one question at once.

Issue 10 measured it: with two pool slots, two runs of one partition paid 260 of 276
questions twice. Here real processes run ``run_task`` on the same items against one
stub server (which records every request) with one shared cache file; each question
must reach the stub once, and both processes must end with every item answered. A
claim whose holder was killed with -9 is taken over by the next run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from darija_assets.llm import lexicon
from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Accepted, cache_key, task_fingerprint
from darija_assets.llm.cache import AnswerCache, CachedAnswer
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import Fault, StubServer
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets_tests import REPO_ROOT

from .conftest import FAKE_KEY, darija_items, lexicon_teacher, texts_in
from .label_worker import BATCH_SIZE as WORKER_BATCH

BATCH = 5


def _label_all(base_url: str, cache_path: str, n: int, go_file: str, out_file: str) -> None:
    """One labelling process of the concurrency test: signal ready, wait for the go,
    label ``n`` sentences, write what it got to ``out_file`` as JSON."""
    backend = make_backend("groq", api_key=FAKE_KEY, base_url=base_url)
    Path(out_file + ".ready").touch()
    while not Path(go_file).exists():
        time.sleep(0.01)
    with AnswerCache(cache_path) as cache:
        result = run_task(
            LabelTask(batch_size=BATCH),
            darija_items(int(n)),
            backend,
            cache,
            concurrency=2,
            claim_poll_s=0.05,
        )
    Path(out_file).write_text(
        json.dumps(
            {
                "labels": {row["key"]: row["label"] for row in result.rows},
                "quarantined": len(result.quarantined),
                "stats": {k: v for k, v in result.stats.items() if isinstance(v, int | float)},
            }
        )
    )


@pytest.mark.slow  # starts two subprocesses
def test_two_processes_on_one_partition_pay_each_question_once(tmp_path):
    n = 40
    items = darija_items(n)
    go = tmp_path / "go"
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    code = (
        "import sys\nfrom darija_assets_tests.llm.test_cache_claims import _label_all\n"
        "_label_all(*sys.argv[1:])\n"
    )
    with StubServer(lexicon_teacher, latency_s=0.2) as stub:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    code,
                    stub.url,
                    str(tmp_path / "answers.sqlite"),
                    str(n),
                    str(go),
                    str(out),
                ],
                cwd=REPO_ROOT,
                stderr=subprocess.PIPE,
            )
            for out in outs
        ]
        try:
            # both are started and have their SDK loaded before either asks anything
            while not all(Path(f"{out}.ready").exists() for out in outs):
                assert all(w.poll() is None for w in workers), [w.stderr.read() for w in workers]
                time.sleep(0.02)
            go.touch()
            for w in workers:
                assert w.wait(timeout=120) == 0, w.stderr.read().decode()
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()
        asked = Counter(t for r in stub.requests for t in texts_in(r))

    results = [json.loads(out.read_text()) for out in outs]
    assert asked == {i.text: 1 for i in items}  # every question paid exactly once
    assert len(stub.requests) == sum(r["stats"]["requests_sent"] for r in results)
    expected = {i.key: lexicon.label(i.text) for i in items}
    for r in results:  # and each process ends with every item answered
        assert r["labels"] == expected and r["quarantined"] == 0
    # they really overlapped: one found questions the other had claimed and waited
    assert sum(r["stats"]["claims_waited"] for r in results) > 0


def test_a_question_claimed_by_a_peer_is_waited_for_not_asked(stub, tmp_path):
    """In one process, to see it whole: a peer holds five questions; the run asks the
    rest, waits, and takes the peer's answers (distinguishable by their model name)."""
    items = darija_items(15)
    task = LabelTask(batch_size=BATCH)
    backend = make_backend("groq", api_key=FAKE_KEY, base_url=stub.url)
    keys = {i.key: cache_key(backend.name, backend.model, task, i) for i in items}
    held = items[:5]
    path = tmp_path / "answers.sqlite"
    with AnswerCache(path) as peer, AnswerCache(path) as mine:
        assert peer.claim([keys[i.key] for i in held], since_seq=0).mine

        def peer_answers() -> None:
            # The run tries the held questions first (they are its first batch), so once
            # it has sent a request it has met the peer's claims and waits on them.
            while not stub.requests:
                time.sleep(0.02)
            peer.put_many(
                CachedAnswer(
                    cache_key=keys[i.key],
                    task=task.name,
                    prompt_version=task_fingerprint(task, i),
                    backend=backend.name,
                    model="peer-model",
                    verdict=Accepted({"label": "Fear"}),
                    latency_s=0.1,
                )
                for i in held
            )

        answering = threading.Thread(target=peer_answers)
        answering.start()
        result = run_task(task, items, backend, mine, concurrency=2, claim_poll_s=0.05)
        answering.join()

    assert Counter(t for r in stub.requests for t in texts_in(r)) == {i.text: 1 for i in items[5:]}
    assert result.stats["claims_waited"] == 5 and result.stats["cache_hits"] == 5
    rows = {r["key"]: (r["label"], r["model"]) for r in result.rows}
    assert {k: rows[k] for k in (i.key for i in held)} == {
        i.key: ("Fear", "peer-model") for i in held
    }
    assert {i.key: rows[i.key][0] for i in items[5:]} == {
        i.key: lexicon.label(i.text) for i in items[5:]
    }


@pytest.mark.slow  # starts a subprocess
def test_the_claims_of_a_run_killed_with_9_are_taken_over(tmp_path):
    """The worker (concurrency 1) claims its first batch and is killed while the stub
    holds that request; the next run takes the dead claims over at once (the lease is
    an hour, so only the dead pid can explain it) and answers every item."""
    n = 3 * WORKER_BATCH
    items = darija_items(n)
    path = tmp_path / "answers.sqlite"
    with StubServer(lexicon_teacher) as stub:
        stub.inject(Fault.slow(600))  # the worker's first request never comes back in time
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "darija_assets_tests.llm.label_worker",
                stub.url,
                str(path),
                str(n),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            while not (stub.requests and _claimed(path)):
                assert worker.poll() is None, worker.stderr.read().decode()
                time.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)
            assert worker.wait(timeout=10) == -signal.SIGKILL
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert len(stub.requests) == 1  # the killed run paid for its first batch only

        backend = make_backend("groq", api_key=FAKE_KEY, base_url=stub.url)
        with AnswerCache(path, lease_s=3600) as cache:
            (dead,) = cache.claims()
            assert dead["pid"] == worker.pid and dead["keys"] == WORKER_BATCH and dead["gone"]
            result = run_task(
                LabelTask(batch_size=WORKER_BATCH),
                items,
                backend,
                cache,
                concurrency=2,
                claim_poll_s=0.05,
            )
            assert cache.claims() == []
        rerun = Counter(t for r in stub.requests[1:] for t in texts_in(r))

    assert rerun == {i.text: 1 for i in items}  # nothing answered before: each asked once
    assert result.stats["claims_taken_over"] == WORKER_BATCH
    assert result.stats["claims_waited"] == 0
    assert {r["key"]: r["label"] for r in result.rows} == {
        i.key: lexicon.label(i.text) for i in items
    }


def _claimed(path: Path) -> bool:
    if not path.exists():
        return False
    with AnswerCache(path) as peek:
        return bool(peek.claims())
