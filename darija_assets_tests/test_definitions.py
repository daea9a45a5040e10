"""The code location itself: it loads, it is fast to load, and it is wired as designed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import dagster as dg

from darija_assets.definitions import defs
from darija_assets.partitions import EMOTIONS, MODEL_PRESETS
from darija_assets_tests import GRAPH_ASSETS

HEAVY_MODULES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "bitsandbytes",
    "scrapy",
    "datasets",
    "sklearn",
    "matplotlib",
    # the serving stage's browser test and any UI library for the chat page
    "playwright",
    "gradio",
)


def test_loading_the_code_location_imports_no_heavy_library():
    probe = (
        "import sys, darija_assets.definitions as d; d.defs.get_repository_def(); "
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported at load: {out.stdout.strip()}"


def test_definitions_validate_from_the_cli(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "definitions",
            "validate",
            "-m",
            "darija_assets",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_graph_has_the_eight_assets_with_their_partitions():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == GRAPH_ASSETS
    partitions = {k: graph.get(dg.AssetKey(k)).partitions_def for k in keys}
    assert set(partitions["raw_corpus"].get_partition_keys()) >= {"sample", "9esa"}
    assert partitions["therapy_pairs"].get_partition_keys() == list(EMOTIONS)
    assert partitions["lora_adapter"].get_partition_keys() == list(MODEL_PRESETS)


def test_cross_dimension_dependencies_use_all_partition_mapping():
    graph = defs.resolve_asset_graph()
    pairs = graph.get(dg.AssetKey("therapy_pairs"))
    tokenized = graph.get(dg.AssetKey("tokenized_dataset"))
    assert isinstance(
        pairs.assets_def.get_partition_mapping(dg.AssetKey("teacher_labels")),
        dg.AllPartitionMapping,
    )
    assert isinstance(
        tokenized.assets_def.get_partition_mapping(dg.AssetKey("therapy_pairs")),
        dg.AllPartitionMapping,
    )
    assert isinstance(
        tokenized.assets_def.get_partition_mapping(dg.AssetKey("translations")),
        dg.AllPartitionMapping,
    )


def test_training_step_is_routed_to_gpu_workers():
    node = defs.resolve_asset_graph().get(dg.AssetKey("lora_adapter"))
    assets_def = node.assets_def
    op = assets_def.op
    assert op.pool == "gpu"
    assert op.tags["dagster-celery/queue"] == "gpu"
    k8s = op.tags["dagster-k8s/config"]
    k8s = k8s if isinstance(k8s, dict) else json.loads(k8s)
    assert k8s["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_llm_steps_share_the_llm_pool():
    graph = defs.resolve_asset_graph()
    for key in ("teacher_labels", "therapy_pairs", "translations"):
        assert graph.get(dg.AssetKey(key)).assets_def.op.pool == "llm"


def test_recrawl_schedule_requests_only_web_sources_and_starts_stopped():
    schedule = defs.get_schedule_def("daily_recrawl")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 21, 3, 0),
        repository_def=defs.get_repository_def(),
    )
    requests = list(schedule.evaluate_tick(context).run_requests)
    assert [r.partition_key for r in requests] == ["9esa"]
    assert requests[0].run_key == "recrawl-9esa-2026-11-21"
