"""emotion_classifier materialized into a real Dagster instance from teacher_labels
tables written where the asset reads them: trained with its metrics, picture and
check when imported labels exist; an honest skip, not a failure, when there are
only the lexicon's labels (the offline demo)."""

from __future__ import annotations

import base64
import io
import re

import dagster as dg
import pytest
from PIL import Image

from darija_assets.assets.classifier import emotion_classifier
from darija_assets.resources import StorageResource
from darija_assets.storage import Layout
from darija_assets_tests.classifier.conftest import (
    COUNTS,
    imported_labels,
    lexicon_labels,
    write_teacher_labels,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


def _materialize(instance, data, config=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [emotion_classifier],
        partition_key="linear",
        instance=instance,
        resources={"storage": StorageResource(data_dir=str(data))},
        run_config={"ops": {"emotion_classifier": {"config": config}}} if config else None,
    )


def _latest(instance) -> tuple[dict, list]:
    key = dg.AssetKey("emotion_classifier")
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=["linear"]), limit=1
    ).records[0]
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "macro_f1_above_baseline"), limit=1
    )
    return metadata, checks


def test_trains_on_imported_labels_and_reports_everything(instance, tmp_path, labelled_file):
    data = tmp_path / "data"
    layout = Layout(data)
    # an import's rows beside the lexicon's (issue 11), and a source the lexicon alone labelled
    imported = imported_labels(labelled_file, "sample")
    lexicon = lexicon_labels([f"جملة عادية {i}" for i in range(25)], "9esa")
    write_teacher_labels(layout, {"sample": imported, "9esa": lexicon})

    result = _materialize(instance, data)
    assert result.success
    metadata, checks = _latest(instance)
    print(
        {k: metadata[k] for k in ("accuracy", "macro_f1", "baseline_accuracy", "baseline_macro_f1")}
    )
    assert metadata["status"] == "trained"
    assert metadata["macro_f1"] > metadata["baseline_macro_f1"] + 0.5
    assert metadata["excluded_offline"] == 25
    assert metadata["kept"] == sum(COUNTS.values())
    assert metadata["teachers"] == f"imported/{labelled_file.name} ({sum(COUNTS.values())})"
    assert [r.data["label"] for r in metadata["per_class"].records] == sorted(COUNTS)
    assert {r.data["label"] for r in metadata["label_distribution"].records} == set(COUNTS)

    uri = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata["confusion_matrix"])
    png = base64.b64decode(uri.group(1))
    with Image.open(io.BytesIO(png)) as picture:
        picture.verify()
        assert picture.format == "PNG"
    model_dir = layout.artifact("emotion_classifier", "linear")
    assert (model_dir / "confusion_matrix.png").read_bytes() == png
    assert (model_dir / "README.md").exists()

    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "macro_f1_above_baseline" and check.passed
    assert checks and checks[0].status.value == "SUCCEEDED"


def test_lexicon_labels_only_is_an_honest_skip(instance, tmp_path):
    data = tmp_path / "data"
    write_teacher_labels(
        Layout(data), {"sample": lexicon_labels([f"جملة {i}" for i in range(30)], "sample")}
    )
    result = _materialize(instance, data)
    assert result.success  # the demo keeps going
    metadata, _ = _latest(instance)
    assert metadata["status"] == "skipped"
    assert "offline lexicon" in metadata["reason"] and "include_offline" in metadata["reason"]
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "skipped" in check.description
    assert not Layout(data).artifact("emotion_classifier", "linear").exists()

    # asked to learn from the lexicon, it still has only one label to learn: skipped again
    result = _materialize(instance, data, {"include_offline": True})
    assert result.success
    metadata, _ = _latest(instance)
    assert metadata["status"] == "skipped" and "two labels" in metadata["reason"]


def test_no_teacher_labels_at_all_fails_with_a_hint(instance, tmp_path):
    result = dg.materialize(
        [emotion_classifier],
        partition_key="linear",
        instance=instance,
        resources={"storage": StorageResource(data_dir=str(tmp_path / "empty"))},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "no teacher_labels partition" in failure.description
