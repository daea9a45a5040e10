"""Two runs of one partition with a pool of two slots pay each question once.

Issue 10 measured it: with two `llm` pool slots, two runs of teacher_labels[sample]
paid 260 of 276 questions twice. Here two `dagster asset materialize` processes run
teacher_labels[sample] at the same time (pool `llm` set to two slots, one DAGSTER_HOME,
one data directory, so one answer cache), the real groq SDK asking the vendor stub.
The stub holds its first answer until the cache shows claims of both runs, so the runs
overlap for certain; then every sentence must reach the stub exactly once, and both
runs must succeed with every sentence labelled.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from darija_assets.llm import lexicon
from darija_assets.llm.cache import cache_path
from darija_assets.llm.stub_server import StubRequest, StubServer, lexicon_label_teacher
from darija_assets.storage import Layout, write_parquet
from darija_assets_tests import REPO_ROOT
from darija_assets_tests.metadata_blocks import read_block

from .conftest import FAKE_KEY, darija_items, texts_in

pytestmark = pytest.mark.slow  # two dagster CLI processes

DAGSTER = Path(sys.executable).with_name("dagster")
N, BATCH = 40, 4
#: how long the stub holds its first answer waiting for the second run (a failing
#: test, not a timing assertion: the runs would then not overlap and the test says so)
OVERLAP_WAIT_S = 180


def _claim_holders(path: Path) -> int:
    """How many processes hold claims in the answer cache (read-only peek)."""
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute("SELECT COUNT(DISTINCT owner) FROM claims").fetchone()[0]
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def test_two_runs_of_one_partition_with_two_slots_pay_each_question_once(tmp_path, monkeypatch):
    items = darija_items(N)
    layout = Layout(tmp_path / "data")
    write_parquet(
        pl.DataFrame(
            {
                "sentence_id": [i.key for i in items],
                "sentence": [i.text for i in items],
                "url": [f"http://127.0.0.1/story/{i.key}" for i in items],
                "source": ["sample"] * N,
            }
        ),
        layout.table("sentences", "sample"),
    )
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance config reads it
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 2)
    answers = cache_path(layout)

    overlapped = threading.Event()  # set once both runs held claims at the same time

    def overlapping(request: StubRequest) -> str:
        deadline = time.monotonic() + OVERLAP_WAIT_S
        while not overlapped.is_set() and time.monotonic() < deadline:
            if _claim_holders(answers) >= 2:
                overlapped.set()
            time.sleep(0.05)
        return lexicon_label_teacher(request)

    with StubServer(overlapping) as stub:
        config = tmp_path / "run.yaml"
        config.write_text(
            json.dumps(
                {
                    "resources": {
                        "llm": {
                            "config": {
                                "backend": "groq",
                                "groq_base_url": stub.url,
                                "groq_api_key": {"env": "GROQ_API_KEY"},
                                "requests_per_minute": 0,
                                "concurrency": 2,
                            }
                        }
                    },
                    "ops": {"teacher_labels": {"config": {"batch_size": BATCH}}},
                }
            )
        )
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DARIJA_DATA_DIR": str(layout.root),
            "GROQ_API_KEY": FAKE_KEY,
        }
        env.pop("GEMINI_API_KEY", None)
        command = [
            str(DAGSTER),
            "asset",
            "materialize",
            "-m",
            "darija_assets",
            "--select",
            "teacher_labels",
            "--partition",
            "sample",
            "-c",
            str(config),
        ]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        runs = []
        for log in logs:
            with log.open("w") as out:
                runs.append(
                    subprocess.Popen(
                        command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        try:
            for run, log in zip(runs, logs):
                assert run.wait(timeout=600) == 0, log.read_text()[-4000:]
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()
                    run.wait()
        asked = Counter(t for r in stub.requests for t in texts_in(r))

    assert overlapped.is_set(), "the second run never started while the first held claims"
    assert asked == {i.text: 1 for i in items}  # every question paid exactly once
    labels = pl.read_parquet(layout.table("teacher_labels", "sample"))
    assert dict(labels.select("sentence_id", "label").iter_rows()) == {
        i.key: lexicon.label(i.text) for i in items
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey("teacher_labels"), limit=10).records
        meta = [r.asset_materialization.metadata for r in records]
    assert len(meta) == 2  # both runs materialized the partition
    assert sum(m["requests_sent"].value for m in meta) == len(stub.requests)
    # the later run found the earlier one's claims and waited for its answers
    assert sum(read_block(m["teacher"])["claims_waited"] for m in meta) > 0
    assert all(m["dagster/row_count"].value == N for m in meta)
