"""What the UI receives from real materializations: metadata that parses as strict JSON,
and check results recorded per partition.

The UI reads metadata through GraphQL as JSON: a NaN anywhere (a float, a table cell)
is not JSON, and the UI shows "Could not parse record" in its place."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from darija_assets.definitions import defs
from darija_assets.partitions import EMOTIONS
from darija_assets_tests.metadata_blocks import read_block


def _strict_json(value: object) -> None:
    """Raise ValueError when ``value`` (any metadata value) serialises to non-strict JSON."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    json.loads(serialize_value(value), parse_constant=refuse)


def test_strict_json_refuses_nan_in_a_table_cell():
    table = dg.MetadataValue.table(
        records=[dg.TableRecord({"loss": float("nan")})],
        schema=dg.TableSchema(columns=[dg.TableColumn("loss", "float")]),
    )
    with pytest.raises(ValueError, match="NaN"):
        _strict_json(table)
    _strict_json(dg.MetadataValue.table(records=[dg.TableRecord({"loss": None})]))


def test_every_check_of_a_partitioned_asset_carries_its_partitions():
    repository = defs.get_repository_def()
    checked = 0
    for asset in repository.assets_defs_by_key.values():
        for spec in asset.check_specs:
            assert spec.partitions_def == asset.partitions_def, spec.key
            checked += 1
    assert checked >= 10  # every stage declares checks


#: a short training run that still logs both train and eval losses, on different steps
TRAINING_CONFIG = {
    "ops": {"lora_adapter": {"config": {"max_steps": 6, "eval_steps": 4, "eval_max_examples": 8}}}
}


@pytest.fixture(scope="module")
def demo_instance(tmp_path_factory, monkeypatch_module):
    for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL", "DARIJA_SOURCES"):
        monkeypatch_module.delenv(key, raising=False)
    monkeypatch_module.setenv("DARIJA_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster_home"))) as instance:
        yield instance


@pytest.fixture(scope="module")
def demo_results(demo_instance):
    plan = [("corpus_job", "sample", None)]
    plan += [("therapy_job", emotion, None) for emotion in EMOTIONS]
    plan += [("training_job", "tiny", TRAINING_CONFIG)]
    return [
        (
            partition,
            defs.resolve_job_def(job).execute_in_process(
                partition_key=partition,
                instance=demo_instance,
                run_config=config,
                raise_on_error=False,
            ),
        )
        for job, partition, config in plan
    ]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.slow
def test_every_metadata_value_of_the_demo_is_strict_json(demo_results):
    seen = set()
    for _, result in demo_results:
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            for key, value in materialization.metadata.items():
                asset = materialization.asset_key.to_user_string()
                try:
                    _strict_json(value)
                except ValueError as err:
                    raise AssertionError(f"{asset} metadata {key!r}: {err}") from err
                seen.add(asset)
        for evaluation in result.get_asset_check_evaluations():
            for key, value in evaluation.metadata.items():
                _strict_json(value)
    assert {"raw_corpus", "teacher_labels", "therapy_pairs", "lora_adapter"} <= seen


@pytest.mark.slow
def test_the_loss_curve_has_train_and_eval_rows_without_nan(demo_results):
    _, training = demo_results[-1]
    adapter = training.asset_materializations_for_node("lora_adapter")[0]
    rows = [r.data for r in adapter.metadata["loss_curve"].value.records]
    assert len(rows) >= 6
    assert any(r["eval_loss"] is not None for r in rows)
    # a step that logged only its train loss has null, not NaN, for the eval loss
    assert any(r["eval_loss"] is None and r["train_loss"] is not None for r in rows)


@pytest.mark.slow
def test_check_results_carry_the_partition_they_judged(demo_results):
    quota = {}
    for partition, result in demo_results:
        for evaluation in result.get_asset_check_evaluations():
            assert evaluation.partition == partition, evaluation.asset_check_key
            if evaluation.asset_check_key.name == "quota_met":
                quota[partition] = evaluation.passed
    assert set(quota) == set(EMOTIONS)


def _latest_metadata(results, asset: str) -> dict:
    found = {}
    for _, result in results:
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key == dg.AssetKey(asset):
                found = {k: v.value for k, v in materialization.metadata.items()}
    assert found, f"{asset} was not materialized"
    return found


TABLE_ASSETS = ("raw_corpus", "clean_text", "sentences", "teacher_labels", "therapy_pairs")


@pytest.mark.slow
@pytest.mark.parametrize("asset", TABLE_ASSETS)
def test_table_assets_carry_row_count_and_column_schema(demo_results, asset):
    import polars as pl

    meta = _latest_metadata(demo_results, asset)
    written = pl.read_parquet(meta["dagster/uri"])
    assert meta["dagster/row_count"] == written.height
    assert [c.name for c in meta["dagster/column_schema"].columns] == written.columns


@pytest.mark.slow
@pytest.mark.parametrize(
    "asset,key",
    [
        ("teacher_labels", "label_distribution"),
        ("therapy_pairs", "all_emotions"),
        ("lora_adapter", "loss_chart"),
    ],
)
def test_charts_are_embedded_png_images(demo_results, asset, key):
    import base64

    markdown = _latest_metadata(demo_results, asset)[key]
    prefix = "(data:image/png;base64,"
    assert prefix in markdown
    encoded = markdown.split(prefix, 1)[1].rstrip(")")
    assert base64.b64decode(encoded).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.slow
def test_therapy_pairs_sums_pairs_over_every_emotion(demo_results):
    import polars as pl

    meta = _latest_metadata(demo_results, "therapy_pairs")
    folder = pl.read_parquet(meta["dagster/uri"])  # the last emotion's table
    assert meta["pairs_all_emotions"] >= folder.height
    total = 0
    for _, result in demo_results:
        for m in result.asset_materializations_for_node("therapy_pairs"):
            total += m.metadata["dagster/row_count"].value
    assert meta["pairs_all_emotions"] == total


def test_arabic_preview_cells_are_isolated_right_to_left():
    import polars as pl

    from darija_assets.assets.metadata import PDI, RLI, preview

    frame = pl.DataFrame({"sentence": ["واش نتا لاباس؟", "hello"], "label": ["Joy", "Neutral"]})
    lines = preview(frame, ["sentence", "label"]).value.splitlines()
    assert f"| {RLI}واش نتا لاباس؟{PDI} | Joy |" == lines[2]
    assert "| hello | Neutral |" == lines[3]


@pytest.mark.slow
def test_a_cli_materialization_is_a_run_of_the_code_location(demo_results, demo_instance):
    """What `darija-assets materialize` records: the location and repository the UI lists
    runs by, the selection and the partition (steps in their own processes, as there)."""
    from darija_assets.launch import location_name, materialize

    run_id, success = materialize(demo_instance, "clean_text,sentences", "sample")
    run = demo_instance.get_run_by_id(run_id)
    assert success
    assert location_name() == "darija_assets"
    assert run.remote_job_origin.repository_origin.get_label() == "__repository__@darija_assets"
    assert run.asset_selection == {dg.AssetKey("clean_text"), dg.AssetKey("sentences")}
    assert run.tags["dagster/partition"] == "sample"
    records = demo_instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    materialized = {r.event_log_entry.dagster_event.asset_key.to_user_string() for r in records}
    assert materialized == {"clean_text", "sentences"}


#: at most this many flat metadata keys on a table asset's page: the headline numbers the
#: Plots tab charts, standard dagster/* keys, charts and previews; detail counters are in
#: the grouped blocks ("counts", "teacher", "crawl")
MAX_FLAT_KEYS = 15


@pytest.mark.slow
@pytest.mark.parametrize("asset", TABLE_ASSETS)
def test_table_assets_have_few_flat_metadata_keys(demo_results, asset):
    meta = _latest_metadata(demo_results, asset)
    assert len(meta) <= MAX_FLAT_KEYS, sorted(meta)
    blocks = [key for key in ("counts", "teacher", "crawl") if key in meta]
    assert blocks, f"{asset} groups no counts"
    for key in blocks:
        assert read_block(meta[key]), f"{asset} {key} is empty"


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["teacher_labels", "therapy_pairs"])
def test_llm_steps_chart_their_teacher_counters_even_when_zero(demo_results, asset):
    from darija_assets.assets.teaching import TEACHER_HEADLINE

    meta = _latest_metadata(demo_results, asset)
    # the demo's offline teacher sends no request: the headline keys are there, as 0
    assert {key: meta[key] for key in TEACHER_HEADLINE} == dict.fromkeys(TEACHER_HEADLINE, 0)
    teacher = read_block(meta["teacher"])
    # the detail counters moved into the block, not lost
    assert teacher["retries"] == 0 and teacher["accepted"] == meta["dagster/row_count"]
    assert teacher["teachers"] == "offline/offline"
    assert not {"retries", "claims_waited", "input_tokens", "teachers"} & set(meta)


def test_a_stats_block_lists_values_and_names_zeros_on_one_line():
    from darija_assets.assets.metadata import stats_block

    block = stats_block(
        {"sent": 3, "retries": 0, "wait_s": 0.123456, "model": "a|b", "reset": None, "x": 0.0}
    )
    assert block.value.splitlines() == [
        "| name | value |",
        "|---|---|",
        "| sent | 3 |",
        "| wait_s | 0.1235 |",
        "| model | a\\|b |",
        "",
        "zero: retries, x",
    ]
    assert read_block(block) == {"sent": 3, "wait_s": 0.1235, "model": "a|b", "retries": 0, "x": 0}


def test_each_demo_job_names_its_step_and_partitions_in_its_description():
    from darija_assets.launch import DEMO_PLAN, demo_runs, demo_step
    from darija_assets.training.presets import PRESETS

    for job_name, keys in DEMO_PLAN:
        job = defs.resolve_job_def(job_name)
        assert job.description.endswith(demo_step(job_name)), job_name
        valid = job.partitions_def.get_partition_keys()
        assert set(keys or valid) <= set(valid), job_name
    assert demo_step("therapy_job") == "Demo step 3 of 5 (`make demo`): every partition."
    # what run-all launches, in order, on its defaults and with a source of its own
    assert demo_runs() == [
        ("corpus_job", "sample"),
        ("classifier_job", "linear"),
        *(("therapy_job", emotion) for emotion in EMOTIONS),
        ("training_job", "tiny"),
        ("serving_job", "tiny"),
    ]
    assert demo_runs(sources=["9esa"])[0] == ("corpus_job", "9esa")
    # the GPU presets say in their jobs that they need a GPU worker
    gpu = [p.name for p in PRESETS.values() if p.requires_cuda]
    assert gpu
    for job_name in ("training_job", "serving_job"):
        assert all(name in defs.resolve_job_def(job_name).description for name in gpu)


def test_loading_and_resolving_the_jobs_warns_nothing():
    """Our own code passes no warning on (unresolved job definitions, deprecated context
    attributes...): a fresh interpreter that turns every warning into an error loads the
    code location and resolves each job."""
    import subprocess
    import sys

    code = (
        "from darija_assets.definitions import defs\n"
        "for job in defs.get_repository_def().get_all_jobs():\n"
        "    defs.resolve_job_def(job.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
