"""adapter_eval and model_export as Dagster materializations on the tiny preset."""

from __future__ import annotations

import json
import shutil

import dagster as dg

from darija_assets.assets.serving import adapter_eval, model_export
from darija_assets.resources import StorageResource
from darija_assets.storage import Layout
from darija_assets_tests.serving.test_evaluate import build_dataset


def test_gate_and_export_materialize_for_tiny(tmp_path, tiny_base, tiny_adapter):
    layout = Layout(tmp_path / "data")
    shutil.copytree(tiny_base, layout.artifact("base_model", "tiny"))
    shutil.copytree(tiny_adapter, layout.artifact("lora_adapter", "tiny"))
    build_dataset(
        layout.artifact("tokenized_dataset", "tiny"), layout.artifact("base_model", "tiny"), 0.2
    )
    result = dg.materialize(
        [adapter_eval, model_export],
        partition_key="tiny",
        resources={"storage": StorageResource(data_dir=str(layout.root))},
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"adapter_eval": {"config": {"n_prompts": 2, "max_new_tokens": 4}}}},
    )
    assert result.success

    evaluation = result.asset_materializations_for_node("adapter_eval")[0].metadata
    assert evaluation["split"].value.startswith("test split")
    assert evaluation["prompts"].value == 2
    assert "adapter_eval_loss" in evaluation and "base_perplexity" in evaluation
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "eval_gate"
    assert check.severity == dg.AssetCheckSeverity.WARN  # report-only for tiny
    assert check.metadata["report_only"].value is True
    report = json.loads((layout.artifact("adapter_eval", "tiny") / "report.json").read_text())
    assert set(report["gate"]) >= {"arabic_script_share", "stopped_share", "loss_improvement"}

    exported = result.asset_materializations_for_node("model_export")[0].metadata
    assert exported["merged"].value is True
    assert "llama.cpp" in exported["skipped_gguf"].value
    assert (layout.artifact("model_export", "tiny") / "merged" / "model.safetensors").exists()
    assert "<end_of_turn>" in exported["modelfile"].value


def test_no_adapter_is_a_clear_failure(tmp_path):
    result = dg.materialize(
        [adapter_eval],
        partition_key="tiny",
        resources={"storage": StorageResource(data_dir=str(tmp_path))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialize lora_adapter first" in failure.message


def test_gate_report_prints_for_the_terminal(tmp_path):
    from darija_assets.serving.evaluate import format_gate_report

    report = {
        "preset": "tiny",
        "split": "test",
        "examples": 3,
        "report_only": True,
        "figures": {"adapter_eval_loss": 1.5, "base_eval_loss": 7.0, "adapter_stopped_share": 1.0,
                    "base_stopped_share": 0.0},
        "gate": {"stopped_share": {"value": 1.0, "op": ">=", "threshold": 0.9, "passed": True},
                 "english_share": {"value": 0.5, "op": "<=", "threshold": 0.1, "passed": False}},
        "sample": [{"prompt": "p", "adapter_answer": "الله يكون معاك", "base_answer": "x"}],
    }  # fmt: skip
    text = format_gate_report(report)
    assert "eval gate [tiny] (report-only) on the test split, 3 examples" in text
    assert "eval_loss" in text and "1.500" in text and "7.000" in text
    assert "pass  stopped_share" in text and "FAIL  english_share" in text
    assert "الله يكون معاك" in text


def test_a_gpu_preset_without_cuda_fails_fast_with_the_reason(tmp_path, tiny_adapter):
    import torch

    if torch.cuda.is_available():
        return  # on a GPU worker this preset is allowed to run
    layout = Layout(tmp_path)
    shutil.copytree(tiny_adapter, layout.artifact("lora_adapter", "atlas-chat-2b"))
    result = dg.materialize(
        [adapter_eval],
        partition_key="atlas-chat-2b",
        resources={"storage": StorageResource(data_dir=str(tmp_path))},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error.cause.cls_name == "TrainingUnavailable"
    assert "CUDA" in error.cause.message
