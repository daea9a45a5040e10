"""`dagster dev` as a person starts it (from the repo root, over workspace.yaml): the web
server comes up, loads the code location and serves the graph through its GraphQL API.

`dagster dev` started from a non-interactive shell ignores SIGINT/SIGTERM, so the test
starts it in its own process group and stops the whole group by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from darija_assets_tests import GRAPH_ASSETS, REPO_ROOT

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


@contextmanager
def dagster_dev(home: Path, data: Path) -> Iterator[int]:
    """``dagster dev -w workspace.yaml`` from the repo root over the instance in ``home``
    (which must hold a dagster.yaml) and the data directory ``data``; yields its port once
    the code location has loaded, and kills its process group at the end."""
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DARIJA_DATA_DIR": str(data)}
    dagster = Path(sys.executable).with_name("dagster")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, "dagster dev exited during start-up"
            try:
                data = _graphql(
                    port,
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }",
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not load the code location in time"
            time.sleep(1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dagster_dev(home, home / "data") as port:
        yield port


def test_the_ui_serves_the_eight_partitioned_assets(webserver):
    data = _graphql(webserver, "{ assetNodes { assetKey { path } partitionKeys groupName } }")
    nodes = {node["assetKey"]["path"][0]: node for node in data["assetNodes"]}
    assert set(nodes) == GRAPH_ASSETS
    assert "sample" in nodes["raw_corpus"]["partitionKeys"]
    assert "Sadness" in nodes["therapy_pairs"]["partitionKeys"]
    assert "tiny" in nodes["lora_adapter"]["partitionKeys"]


def test_the_recrawl_schedule_is_listed_and_off(webserver):
    data = _graphql(
        webserver,
        """{ schedulesOrError(repositorySelector: {repositoryName: "__repository__",
              repositoryLocationName: "darija_assets"}) {
              ... on Schedules { results { name scheduleState { status } } } } }""",
    )
    schedules = {
        s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]
    }
    assert schedules == {"daily_recrawl": "STOPPED"}


def test_a_new_raw_corpus_partition_flows_down_when_automation_is_on(tmp_path):
    """The eager conditions request clean_text for the re-crawled source only; nothing
    that spends LLM quota further down is requested before its own upstream exists."""
    import dagster as dg

    from darija_assets.definitions import defs

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0
        instance.report_runless_asset_event(
            dg.AssetMaterialization("raw_corpus", partition="sample")
        )
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor
        )
        requested = {
            (key.asset_key.to_user_string(), key.partition_key)
            for evaluation in result.results
            for key in evaluation.true_subset.expensively_compute_asset_partitions()
        }
    assert ("clean_text", "sample") in requested
    assert {asset for asset, _ in requested} <= {"clean_text", "sentences", "teacher_labels"}
    assert {partition for _, partition in requested} == {"sample"}


def test_the_automation_sensor_is_listed_and_off(webserver):
    data = _graphql(
        webserver,
        """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
              repositoryLocationName: "darija_assets"}) {
              ... on Sensors { results { name sensorState { status } } } } }""",
    )
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    assert sensors["corpus_automation"] == "STOPPED"
