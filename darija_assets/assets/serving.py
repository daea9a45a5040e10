"""lora_adapter[model] -> adapter_eval[model] -> model_export[model]: the serving half.

adapter_eval is the gate: the adapter against its base on the held-out test split,
with a blocking check whose thresholds live in ``serving.evaluate.GATE_THRESHOLDS``
(report-only, severity WARN, for the ``tiny`` toy model). model_export depends on
the gate as well as the adapter, so an adapter that fails it is never exported.
The work lives in ``darija_assets.serving``; torch, transformers and peft load
inside the asset bodies.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from darija_assets import checks
from darija_assets.assets.training import lora_adapter
from darija_assets.partitions import model_partitions
from darija_assets.resources import StorageResource
from darija_assets.storage import write_json
from darija_assets.training.presets import PRESETS
from darija_assets.training.tiny import base_model_location

#: (prompts, new tokens, loss examples) per preset kind: the tiny demo stays seconds long
TINY_EVAL = (4, 16, 64)
REAL_EVAL = (32, 256, 500)

REPORT_FILE = "report.json"


class EvalConfig(dg.Config):
    n_prompts: int = Field(
        default=0, description="Held-out prompts to generate answers for; 0 = tiny 4, others 32."
    )
    max_new_tokens: int = Field(
        default=0, description="Token budget per answer; 0 = tiny 16, others 256."
    )
    max_examples: int = Field(
        default=0, description="Held-out examples for the loss; 0 = tiny 64, others 500."
    )


def _adapter_dir(layout, preset_name: str) -> Path:
    adapter = layout.artifact("lora_adapter", preset_name)
    if not (adapter / "adapter_config.json").exists():
        raise dg.Failure(description=f"no adapter at {adapter}: materialize lora_adapter first")
    return adapter


@dg.asset(
    partitions_def=model_partitions,
    deps=[lora_adapter],
    group_name="serving",
    kinds={"pytorch"},
    check_specs=checks.partitioned(
        model_partitions,
        [
            dg.AssetCheckSpec(
                "eval_gate",
                asset="adapter_eval",
                description="The adapter answers in Arabic script, stops, does not refuse or switch "
                "to English, and beats its base's loss on the held-out split (thresholds: "
                "darija_assets.serving.evaluate.GATE_THRESHOLDS; report-only for tiny).",
                blocking=True,
            )
        ],
    ),
)
def adapter_eval(
    context: dg.AssetExecutionContext, config: EvalConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """The adapter vs its base on the test split: loss, perplexity, and generated answers'
    Arabic-script, stop, refusal and English shares and length."""
    from darija_assets.serving import evaluate
    from darija_assets.training.preflight import preflight

    preset = PRESETS[context.partition_key]
    layout = storage.layout()
    adapter = _adapter_dir(layout, preset.name)
    # the GPU presets' bases need CUDA (and Hub access): fail in a second, not after a load
    device = preflight(preset, base_model_location(layout, preset))
    defaults = TINY_EVAL if preset.is_local_tiny else REAL_EVAL
    n_prompts, max_new_tokens, max_examples = (
        chosen or default
        for chosen, default in zip(
            (config.n_prompts, config.max_new_tokens, config.max_examples), defaults
        )
    )
    report = evaluate.evaluate_adapter(
        base_model_location(layout, preset),
        adapter,
        layout.artifact("tokenized_dataset", preset.name),
        n_prompts=n_prompts,
        max_new_tokens=max_new_tokens,
        max_examples=max_examples,
    )
    checks = evaluate.gate(report)
    figures = {k: round(v, 4) for k, v in report.figures().items()}
    report_only = preset.is_local_tiny
    target = layout.artifact("adapter_eval", preset.name) / REPORT_FILE
    write_json(
        {
            "preset": preset.name,
            "split": report.split,
            "examples": report.examples,
            "figures": figures,
            "gate": checks,
            "report_only": report_only,
            "sample": evaluate.sample_table(report),
        },
        target,
    )
    split_note = (
        "test split (never trained on)"
        if report.split == "test"
        else "validation split: the dataset has no test split (re-materialize tokenized_dataset)"
    )
    sample = evaluate.sample_table(report)
    return dg.MaterializeResult(
        metadata={
            "split": split_note,
            "device": device,
            "examples": report.examples,
            "prompts": len(report.adapter.generations),
            "max_new_tokens": max_new_tokens,
            **figures,
            "sample": dg.MetadataValue.table(
                records=[dg.TableRecord(dict(row)) for row in sample],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn(c, "string")
                        for c in ("prompt", "adapter_answer", "base_answer", "reference")
                    ]
                ),
            ),
            "path": dg.MetadataValue.path(str(target)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="eval_gate",
                passed=all(c["passed"] for c in checks.values()),
                # a toy model cannot meet a real bar: report it, never block on it
                severity=dg.AssetCheckSeverity.WARN if report_only else dg.AssetCheckSeverity.ERROR,
                metadata={
                    "report_only": report_only,
                    **{
                        name: f"{c['value']:.3f} {c['op']} {c['threshold']}: "
                        + ("pass" if c["passed"] else "FAIL")
                        for name, c in checks.items()
                    },
                },
            )
        ],
    )


@dg.asset(
    partitions_def=model_partitions,
    deps=[lora_adapter, adapter_eval],
    group_name="serving",
    kinds={"pytorch", "ollama"},
)
def model_export(
    context: dg.AssetExecutionContext, storage: StorageResource
) -> dg.MaterializeResult:
    """Merged safetensors (where the base is on this machine), an Ollama Modelfile with the
    preset's chat template, stop tokens and a Darija system prompt, the vLLM commands,
    and GGUF where llama.cpp's converter is installed; skipped parts name their reason."""
    from darija_assets.serving.export import export_model

    preset = PRESETS[context.partition_key]
    layout = storage.layout()
    result = export_model(
        preset,
        base_model_location(layout, preset),
        _adapter_dir(layout, preset.name),
        layout.artifact("model_export", preset.name),
    )
    return dg.MaterializeResult(
        metadata={
            "merged": result.merged,
            "dtype": result.dtype,
            **{f"skipped_{part}": why for part, why in result.skipped.items()},
            "files": ", ".join(result.files),
            "modelfile": dg.MetadataValue.md(
                "```\n" + (result.target / "Modelfile").read_text(encoding="utf-8") + "```"
            ),
            "readme": dg.MetadataValue.md((result.target / "README.md").read_text("utf-8")),
            "path": dg.MetadataValue.path(str(result.target)),
        }
    )
