"""kill -9 in the middle of a therapy_pairs partition, then run it again.

The original notebook lost its place when it died. Here a child process generates
24 pairs (6 requests of 4) against the stub; the stub holds the 4th request until
the test has killed the child with SIGKILL. The rerun must write every pair exactly
once, and no answer the stub delivered may be asked for again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from darija_assets.llm.stub_server import StubServer
from darija_assets.therapy.selection import select_for_emotion
from darija_assets_tests.therapy.resume_child import BATCH, QUOTA
from darija_assets_tests.therapy.teachers import labelled_sentences, therapist

REPO = Path(__file__).resolve().parents[2]
ANSWERED_BEFORE_KILL = 3  # requests the first run gets answered


class HoldingTherapist:
    """Answers like ``therapist()``, except that in the first run the request after
    ANSWERED_BEFORE_KILL answered ones is held until the test releases it (after the
    kill, so that answer is never delivered)."""

    def __init__(self) -> None:
        self.answer = therapist()
        self.first_run = True
        self.answered_in_first_run = 0
        self.received: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.held_ids: list[str] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, request) -> str:
        ids = [item["id"] for item in request.items()]
        self.received.update(ids)
        if self.first_run and self.answered_in_first_run == ANSWERED_BEFORE_KILL:
            self.held_ids = ids
            self.holding.set()
            self.release.wait(60)
            return self.answer(request)  # written to a dead connection
        self.delivered.update(ids)
        if self.first_run:
            self.answered_in_first_run += 1
        return self.answer(request)


def child(tmp: Path, url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "darija_assets_tests.therapy.resume_child",
            str(tmp / "labels.parquet"),
            str(tmp / "answers.sqlite"),
            str(tmp / "pairs.parquet"),
            url,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def cached_answers(tmp: Path) -> int:
    with sqlite3.connect(tmp / "answers.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM answers WHERE task = 'pairs'").fetchone()[0]


@pytest.mark.slow
def test_kill_9_mid_partition_then_rerun_writes_every_pair_once(tmp_path):
    labels = labelled_sentences({"Sadness": 40, "Fear": 5})
    labels.write_parquet(tmp_path / "labels.parquet")
    expected, _ = select_for_emotion(labels, "Sadness", QUOTA, seed=1)
    teacher = HoldingTherapist()

    with StubServer(teacher) as stub:
        first = child(tmp_path, stub.url)
        try:
            assert teacher.holding.wait(60), first.communicate(timeout=5)[0].decode()
            first.send_signal(signal.SIGKILL)
            assert first.wait(30) == -signal.SIGKILL
        finally:
            teacher.first_run = False
            teacher.release.set()
        assert not (tmp_path / "pairs.parquet").exists()
        assert cached_answers(tmp_path) == ANSWERED_BEFORE_KILL * BATCH  # durable progress

        second = child(tmp_path, stub.url)
        output = second.communicate(timeout=120)[0].decode()
        assert second.returncode == 0, output

    pairs = pl.read_parquet(tmp_path / "pairs.parquet")
    assert pairs.height == QUOTA
    assert pairs["pair_id"].to_list() == expected["pair_id"].to_list()
    # every answer the stub delivered was delivered exactly once, across both runs
    assert dict(teacher.delivered) == {pid: 1 for pid in expected["pair_id"]}
    # only the held request (answered to nobody) was asked twice
    assert len(teacher.held_ids) == BATCH
    assert {pid for pid, n in teacher.received.items() if n == 2} == set(teacher.held_ids)
    assert sum(teacher.received.values()) == QUOTA + BATCH
    assert cached_answers(tmp_path) == QUOTA
