"""The command lines a user types: `dagster asset materialize` on a partition, a file
source declared through $DARIJA_SOURCES, into a real DAGSTER_HOME whose event log
then shows the runs (as `dagster dev` would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from darija_assets.storage import Layout
from darija_assets_tests import REPO_ROOT

pytestmark = pytest.mark.slow


WHATSAPP_EXPORT = """\
21/11/2026, 20:01 - Salma: واش نتي لاباس؟ توحشتك بزاف
21/11/2026, 20:02 - Hind: الحمد لله، غير عيانة شوية من الخدمة
21/11/2026, 20:03 - Salma: <Media omitted>
21/11/2026, 20:05 - Hind: خايفة من المقابلة ديال غدا
ولكن غادي ندير جهدي إن شاء الله
"""


def _materialize(home: Path, data: Path, select: str, partition: str, extra_env=None) -> None:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DARIJA_DATA_DIR": str(data),
        **(extra_env or {}),
    }
    env.pop("GEMINI_API_KEY", None)
    env.pop("GROQ_API_KEY", None)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "darija_assets",
        "--select",
        select,
        "--partition",
        partition,
    ]
    # the instance config users get, run from a directory that is not DAGSTER_HOME
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    done = subprocess.run(
        command, env=env, cwd=home.parent, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _materialized_partitions(home: Path, asset: str) -> set[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            return instance.get_materialized_partitions(dg.AssetKey(asset))


def test_materialize_one_partition_from_the_cli(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    _materialize(home, data, "raw_corpus", "sample")
    assert _materialized_partitions(home, "raw_corpus") == {"sample"}
    corpus = pl.read_parquet(Layout(data).table("raw_corpus", "sample"))
    assert corpus.height > 30
    assert set(corpus["source"]) == {"sample"}


def test_a_whatsapp_export_declared_as_a_file_source(tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    export = tmp_path / "chat.txt"
    export.write_text(WHATSAPP_EXPORT, encoding="utf-8")
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps([{"name": "family_chat", "kind": "file", "path": str(export)}]))

    _materialize(
        home,
        data,
        "raw_corpus,clean_text,sentences",
        "family_chat",
        {"DARIJA_SOURCES": str(sources)},
    )
    layout = Layout(data)
    corpus = pl.read_parquet(layout.table("raw_corpus", "family_chat"))
    quarantine = pl.read_parquet(layout.quarantine("raw_corpus", "family_chat"))
    # three messages with text (the multi-line one joined), the media line quarantined
    assert corpus.height == 3
    assert any("غادي ندير جهدي" in text for text in corpus["raw_text"])
    assert quarantine.height == 1 and "media" in quarantine["reason"][0].lower()
    sentences = pl.read_parquet(layout.table("sentences", "family_chat"))
    assert "خايفة من المقابلة ديال غدا" in sentences["sentence"].to_list()
    assert _materialized_partitions(home, "sentences") == {"family_chat"}
