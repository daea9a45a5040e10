"""lora_adapter on the tiny model: the real trl/peft loop learns, saves, reloads, resumes and refuses.

The tiny model is random, so "it learns" is shown on a handful of identical
examples: the loss falls and the reloaded adapter answers with the memorised
text, stopping at the end-of-turn token.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from darija_assets.training import chat
from darija_assets.training.dataset import load_tokenizer
from darija_assets.training.preflight import TrainingUnavailable
from darija_assets.training.presets import PRESETS
from darija_assets.training.trainer import latest_checkpoint, train_adapter

from .conftest import ANSWER, PATIENT_TEXT, pair


def test_training_lowers_the_loss_and_writes_a_complete_adapter(
    trained_adapter: tuple[Path, Any],
) -> None:
    adapter_dir, result = trained_adapter

    losses = [entry["loss"] for entry in result.train_loss]
    assert [entry["step"] for entry in result.train_loss] == list(range(1, 31))
    assert losses[-1] < losses[0] / 5
    assert result.global_step == 30 and result.resumed_from_step is None
    curve = result.loss_curve()
    assert [row["step"] for row in curve] == list(range(1, 31))
    assert curve[0] == {"step": 1, "train_loss": losses[0], "eval_loss": None}
    assert result.train_examples == 8 and result.eval_examples == 0
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= {
        p.name for p in adapter_dir.iterdir()
    }
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["r"] == 16 and config["lora_alpha"] == 16
    assert set(config["target_modules"]) == set(PRESETS["tiny"].target_modules)
    card = (adapter_dir / "README.md").read_text()
    assert '"partitions": [\n      "Sadness"\n    ]' in card  # the lineage we passed
    assert "- Steps: 30" in card and "library_name: peft" in card


def test_reloaded_adapter_answers_and_stops_at_end_of_turn(
    tiny_base: Path, trained_adapter: tuple[Path, Any]
) -> None:
    adapter_dir, _ = trained_adapter
    model, tokenizer = chat.load(tiny_base, adapter_dir)

    assert type(model).__name__ == "PeftModelForCausalLM"
    assert chat.ask(model, tokenizer, PATIENT_TEXT, max_new_tokens=60) == ANSWER
    # without the adapter, the same random base says something else
    with model.disable_adapter():
        assert chat.ask(model, tokenizer, PATIENT_TEXT, max_new_tokens=20) != ANSWER


def test_chat_command_prints_the_answer(
    tiny_base: Path, trained_adapter: tuple[Path, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    adapter_dir, _ = trained_adapter

    assert (
        chat.main(
            ["--base", str(tiny_base), "--adapter", str(adapter_dir), "--message", PATIENT_TEXT]
        )
        == 0
    )
    assert capsys.readouterr().out == ANSWER + "\n"


class Interrupt(Exception):
    """Stands in for a kill or a cancel arriving right after a checkpoint."""


def test_interrupted_training_resumes_from_its_last_checkpoint(
    tmp_path: Path, tiny_base: Path, memorise_dataset: Path, fast_tiny_preset: Any
) -> None:
    from transformers import TrainerCallback

    class StopAfterFirstCheckpoint(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            raise Interrupt(f"stopped at step {state.global_step}")

    class CountSteps(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[int] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.steps.append(state.global_step)

    run = {"max_steps": 4, "save_steps": 2, "seed": 0}
    with pytest.raises(Interrupt, match="stopped at step 2"):
        train_adapter(
            fast_tiny_preset,
            memorise_dataset,
            tiny_base,
            tmp_path / "adapter",
            tmp_path / "ckpt",
            callbacks=[StopAfterFirstCheckpoint()],
            **run,
        )
    assert not (tmp_path / "adapter").exists()
    assert latest_checkpoint(tmp_path / "ckpt")[0] == 2
    # a checkpoint a kill -9 cut short (no trainer state yet) must be ignored and cleared
    (tmp_path / "ckpt" / "checkpoint-3").mkdir()
    (tmp_path / "ckpt" / "checkpoint-3" / "adapter_model.safetensors").write_bytes(b"partial")

    counter = CountSteps()
    result = train_adapter(
        fast_tiny_preset,
        memorise_dataset,
        tiny_base,
        tmp_path / "adapter",
        tmp_path / "ckpt",
        callbacks=[counter],
        **run,
    )

    assert result.resumed_from_step == 2
    assert counter.steps == [3, 4], "only the steps after the checkpoint ran again"
    assert result.global_step == 4
    assert [entry["step"] for entry in result.train_loss] == [1, 2, 3, 4], (
        "history kept, no step twice"
    )
    state = json.loads((tmp_path / "ckpt" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert not (tmp_path / "ckpt" / "checkpoint-3").exists()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_changed_inputs_discard_old_checkpoints(
    tmp_path: Path, tiny_base: Path, memorise_dataset: Path, fast_tiny_preset: Any
) -> None:
    messages: list[str] = []
    args = (memorise_dataset, tiny_base, tmp_path / "adapter", tmp_path / "ckpt")
    train_adapter(fast_tiny_preset, *args, max_steps=1, save_steps=1, seed=0, log=messages.append)
    result = train_adapter(
        fast_tiny_preset, *args, max_steps=1, save_steps=1, seed=1, log=messages.append
    )

    assert result.resumed_from_step is None
    assert "inputs changed since the last run: discarding 1 stale checkpoint(s)" in messages


def test_cuda_preset_fails_fast_on_a_cpu_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # Nothing exists at these paths: the error must come before anything is loaded.
    with pytest.raises(
        TrainingUnavailable, match="needs a CUDA GPU .* torch.cuda.is_available\\(\\) is False"
    ):
        train_adapter(
            PRESETS["atlas-chat-9b"],
            tmp_path / "no-dataset",
            "MBZUAI-Paris/Atlas-Chat-9B",
            tmp_path / "adapter",
            tmp_path / "ckpt",
        )
    assert not (tmp_path / "ckpt").exists()


def test_gated_model_without_token_or_cache_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    cpu_atlas = dataclasses.replace(PRESETS["atlas-chat-2b"], requires_cuda=False)

    with pytest.raises(TrainingUnavailable, match="gated model: .* set HF_TOKEN"):
        train_adapter(
            cpu_atlas,
            tmp_path / "no-dataset",
            "MBZUAI-Paris/Atlas-Chat-2B",
            tmp_path / "adapter",
            tmp_path / "ckpt",
        )
    # tokenized_dataset needs the gated tokenizer too, and says so just as early
    with pytest.raises(TrainingUnavailable, match="gated model: .* set HF_TOKEN"):
        load_tokenizer(PRESETS["atlas-chat-2b"], "MBZUAI-Paris/Atlas-Chat-2B")


def test_eval_loss_is_logged_at_each_eval_step(
    tmp_path: Path, tiny_base: Path, tiny_tokenizer: Any, fast_tiny_preset: Any
) -> None:
    from darija_assets.training.dataset import build_examples, save_dataset

    preset = dataclasses.replace(fast_tiny_preset, eval_steps=1)
    dataset, stats = build_examples(
        [pair(f"e{i}") for i in range(8)],
        None,
        tiny_tokenizer,
        preset,
        validation_fraction=0.25,
        test_fraction=0,
    )
    assert stats["examples_per_split"] == {"train": 6, "validation": 2, "test": 0}
    dataset_dir = save_dataset(dataset, stats, tmp_path / "dataset")

    result = train_adapter(
        preset, dataset_dir, tiny_base, tmp_path / "adapter", tmp_path / "ckpt", max_steps=2
    )

    assert [entry["step"] for entry in result.eval_loss] == [1, 2]
    assert result.metrics["eval_loss"] == result.eval_loss[-1]["eval_loss"]
    assert result.eval_examples == 2
    assert all(
        row["train_loss"] is not None and row["eval_loss"] is not None
        for row in result.loss_curve()
    )


SLOW_TRAINING = """
import dataclasses, sys, time
from transformers import TrainerCallback
from darija_assets.training.presets import PRESETS
from darija_assets.training.trainer import train_adapter

class Slow(TrainerCallback):  # gives the test time to kill between checkpoints
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.3)

preset = dataclasses.replace(PRESETS["tiny"], lr=5e-3)
dataset, base, adapter, checkpoints = sys.argv[1:5]
train_adapter(preset, dataset, base, adapter, checkpoints, max_steps=12, save_steps=3,
              callbacks=[Slow()])
"""


@pytest.mark.slow
def test_kill_9_mid_training_then_rerun_continues_from_the_last_checkpoint(
    tmp_path: Path, tiny_base: Path, memorise_dataset: Path, fast_tiny_preset: Any
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    checkpoints = tmp_path / "ckpt"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_TRAINING,
            str(memorise_dataset),
            str(tiny_base),
            str(tmp_path / "adapter"),
            str(checkpoints),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while latest_checkpoint(checkpoints) is None:  # a complete checkpoint, state readable
            assert process.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "adapter").exists()
    killed_at = latest_checkpoint(checkpoints)[0]
    assert 3 <= killed_at < 12

    result = train_adapter(
        fast_tiny_preset,
        memorise_dataset,
        tiny_base,
        tmp_path / "adapter",
        checkpoints,
        max_steps=12,
        save_steps=3,
    )

    assert result.resumed_from_step == killed_at
    assert result.global_step == 12
    # the killed run's steps up to the checkpoint, then this run's: each step once
    assert [entry["step"] for entry in result.train_loss] == list(range(1, 13))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
