"""The evaluation gate on the tiny preset: real loss and generations, adapter vs base."""

from __future__ import annotations

import math

import pytest

from darija_assets.serving import evaluate
from darija_assets.serving.evaluate import EvalReport, Generation, ModelReport
from darija_assets.training.formatting import DEFAULT_INSTRUCTION
from darija_assets.training.presets import PRESETS

EMOTIONS = ("Sadness", "Fear", "Joy", "Anger")


def pairs(n: int = 40) -> list[dict]:
    return [
        {
            "pair_id": f"p{i:03d}",
            "instruction": DEFAULT_INSTRUCTION,
            "input": f"كنحس براسي بوحدي {i}",
            "output": "الله يكون معاك، احكي ليا كثر.",
            "emotion": EMOTIONS[i % len(EMOTIONS)],
            "style": "question",
            "backend": "offline-templates",
            "model": "templates-v1",
            "sentence_id": f"s{i}",
            "url": f"http://127.0.0.1/{i}",
            "source": "sample",
        }
        for i in range(n)
    ]


def build_dataset(target, base, test_fraction: float):
    from darija_assets.training.dataset import build_examples, load_tokenizer, save_dataset

    tokenizer = load_tokenizer(PRESETS["tiny"], base)
    dataset, stats = build_examples(
        pairs(), None, tokenizer, PRESETS["tiny"], validation_fraction=0.1,
        test_fraction=test_fraction,
    )  # fmt: skip
    return save_dataset(dataset, stats, target)


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_base, tiny_adapter):
    dataset = build_dataset(tmp_path_factory.mktemp("ds") / "dataset", tiny_base, 0.2)
    return evaluate.evaluate_adapter(
        tiny_base, tiny_adapter, dataset, n_prompts=3, max_new_tokens=8
    )


def test_report_compares_adapter_and_base_on_the_test_split(report):
    assert report.split == "test" and report.examples > 0
    figures = report.figures()
    for name in ("adapter", "base"):
        loss = figures[f"{name}_eval_loss"]
        assert math.isfinite(loss) and loss > 0
        assert figures[f"{name}_perplexity"] == pytest.approx(math.exp(loss))
        for share in ("arabic_script_share", "stopped_share", "refusal_share", "english_share"):
            assert 0.0 <= figures[f"{name}_{share}"] <= 1.0
        assert 0 < figures[f"{name}_mean_answer_tokens"] <= 8
    # the adapter is random and non-zero: it must change the loss
    assert figures["adapter_eval_loss"] != pytest.approx(figures["base_eval_loss"])
    assert figures["loss_improvement"] == pytest.approx(
        figures["base_eval_loss"] - figures["adapter_eval_loss"]
    )
    assert len(report.adapter.generations) == len(report.base.generations) == 3
    first = report.adapter.generations[0]
    assert "Patient says" in first.prompt and first.reference == "الله يكون معاك، احكي ليا كثر."
    sample = evaluate.sample_table(report, limit=2)
    assert len(sample) == 2 and set(sample[0]) >= {"prompt", "adapter_answer", "base_answer"}


def test_without_a_test_split_the_validation_split_is_used(tmp_path, tiny_base, tiny_adapter):
    dataset = build_dataset(tmp_path / "dataset", tiny_base, 0.0)
    report = evaluate.evaluate_adapter(
        tiny_base, tiny_adapter, dataset, n_prompts=1, max_new_tokens=2
    )
    assert report.split == "validation"


def _report(answers: list[str], stopped: list[bool], adapter_loss: float, base_loss: float):
    gens = [Generation("p", a, "r", 5, s) for a, s in zip(answers, stopped)]
    return EvalReport(
        split="test",
        examples=len(answers),
        adapter=ModelReport(adapter_loss, math.exp(adapter_loss), gens),
        base=ModelReport(base_loss, math.exp(base_loss), gens),
    )


def test_gate_passes_a_good_adapter_and_fails_each_kind_of_bad_one():
    good = _report(["الله يكون معاك، احكي ليا"] * 10, [True] * 10, 1.0, 2.0)
    assert all(check["passed"] for check in evaluate.gate(good).values())
    english = _report(["I am sorry, but you should talk to the doctor"] * 10, [True] * 10, 1.0, 2.0)
    checks = evaluate.gate(english)
    assert not checks["arabic_script_share"]["passed"]
    assert not checks["english_share"]["passed"] and not checks["refusal_share"]["passed"]
    endless = _report(["الله يكون معاك"] * 10, [False] * 10, 1.0, 2.0)
    assert not evaluate.gate(endless)["stopped_share"]["passed"]
    worse = _report(["الله يكون معاك"] * 10, [True] * 10, 2.5, 2.0)
    assert not evaluate.gate(worse)["loss_improvement"]["passed"]


def test_refusal_and_english_detection():
    assert evaluate.is_refusal("As an AI, I cannot help with that")
    assert evaluate.is_refusal("سمح ليا، ما نقدرش نعاونك")
    assert not evaluate.is_refusal("الله يكون معاك")
    assert evaluate.is_english("I feel that you are tired")
    assert not evaluate.is_english("rani m9elle9 bzaf")  # Arabizi is not English
    assert not evaluate.is_english("كنفهمك")
