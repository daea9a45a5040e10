"""A real Dagster instance (SQLite under a temporary DAGSTER_HOME) and a fresh data
directory for each test module that materializes assets."""

from __future__ import annotations

import dagster as dg
import pytest


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture(scope="module")
def env(data_root, monkeypatch_module):
    # No key in the environment: the embedded, offline defaults must carry the whole graph.
    for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL", "DARIJA_SOURCES"):
        monkeypatch_module.delenv(key, raising=False)
    monkeypatch_module.setenv("DARIJA_DATA_DIR", str(data_root))
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    return data_root


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp
