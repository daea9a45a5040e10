"""The evaluation gate: an adapter against its own base model on held-out examples.

Two measurements, both on the ``test`` split of ``tokenized_dataset`` (never
trained on; the ``validation`` split when a dataset has no test split, which the
report says):

- **Loss**: mean cross-entropy per answer token (the stored labels, -100 outside the
  answers) and its perplexity ``exp(loss)``, for the adapter and for the base (the
  same model with the adapter disabled).
- **Generations**: greedy answers to a fixed set of held-out prompts (the first
  ``n_prompts`` therapy examples by example id; each prompt is the stored tokens up to
  the first answer token, so it is exactly what the model was trained to answer),
  scored by share in Arabic script, share that stopped on the end-of-turn token within
  the token budget, share of refusals and of English answers, and mean length.

``gate`` turns the adapter's figures into pass/fail checks with the thresholds of
``GATE_THRESHOLDS``; for the ``tiny`` preset (a random toy model) they are reported,
never blocking.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darija_assets.text.quality import arabic_script_ratio
from darija_assets.training.formatting import IGNORE_INDEX

#: an answer counts as Arabic script when at least this share of its letters is Arabic
ARABIC_ANSWER_MIN_RATIO = 0.5

#: the gate for real presets. Sources: the Arabic/stop/refusal/English shares are this
#: project's acceptance bar for a Darija therapist persona (an answer in English or a
#: refusal fails the user; an answer that never ends is cut off mid-sentence); the loss
#: check only asks that fine-tuning helped on text it never saw.
GATE_THRESHOLDS: dict[str, tuple[str, float]] = {
    "arabic_script_share": (">=", 0.8),
    "stopped_share": (">=", 0.9),
    "refusal_share": ("<=", 0.1),
    "english_share": ("<=", 0.1),
    "loss_improvement": (">", 0.0),
}

#: the generation figures of ``ModelReport.shares``, in report order
SHARE_NAMES = (
    "arabic_script_share",
    "stopped_share",
    "refusal_share",
    "english_share",
    "empty_share",
    "mean_answer_tokens",
    "mean_answer_chars",
)

# Refusals as instruction-tuned models word them, in the languages our users write.
_REFUSALS = re.compile(
    r"\b(?:i can ?not|i can't|i cannot|i'm sorry,? but|i am sorry,? but|as an ai|"
    r"i'm not able to|i am not able to|je ne peux pas|en tant qu'ia)\b|"
    r"لا أستطيع|لا يمكنني|ما نقدرش نعاونك|ما يمكنليش|كنموذج لغوي|بصفتي ذكاء",
    re.IGNORECASE,
)
_ENGLISH_WORDS = re.compile(
    r"\b(?:the|and|you|your|is|are|to|of|it|that|this|with|feel|can|i)\b", re.IGNORECASE
)
_LATIN = re.compile(r"[A-Za-z]")


def is_refusal(answer: str) -> bool:
    return bool(_REFUSALS.search(answer))


def is_english(answer: str) -> bool:
    """Mostly Latin letters with at least two common English function words."""
    letters = sum(ch.isalpha() for ch in answer)
    latin = len(_LATIN.findall(answer))
    return letters > 0 and latin / letters > 0.5 and len(_ENGLISH_WORDS.findall(answer)) >= 2


@dataclass
class Generation:
    prompt: str
    answer: str
    reference: str
    #: tokens generated (the stop token included when it came)
    new_tokens: int
    stopped: bool


@dataclass
class ModelReport:
    eval_loss: float
    perplexity: float
    generations: list[Generation] = field(default_factory=list)

    def shares(self) -> dict[str, float]:
        """Shares (0..1) and mean answer length (tokens, characters) of the generations."""
        n = len(self.generations)
        if n == 0:
            return {}
        answers = [g.answer for g in self.generations]
        return {
            "arabic_script_share": sum(
                arabic_script_ratio(a) >= ARABIC_ANSWER_MIN_RATIO for a in answers
            )
            / n,
            "stopped_share": sum(g.stopped for g in self.generations) / n,
            "refusal_share": sum(is_refusal(a) for a in answers) / n,
            "english_share": sum(is_english(a) for a in answers) / n,
            "empty_share": sum(not a.strip() for a in answers) / n,
            "mean_answer_tokens": sum(g.new_tokens for g in self.generations) / n,
            "mean_answer_chars": sum(len(a) for a in answers) / n,
        }


@dataclass
class EvalReport:
    split: str
    examples: int
    adapter: ModelReport
    base: ModelReport

    def figures(self) -> dict[str, float]:
        """Every number, prefixed ``adapter_`` / ``base_``, plus ``loss_improvement``
        (base loss minus adapter loss, nats per answer token)."""
        out: dict[str, float] = {"loss_improvement": self.base.eval_loss - self.adapter.eval_loss}
        for name, report in (("adapter", self.adapter), ("base", self.base)):
            out[f"{name}_eval_loss"] = report.eval_loss
            out[f"{name}_perplexity"] = report.perplexity
            out.update({f"{name}_{k}": v for k, v in report.shares().items()})
        return out


def gate(report: EvalReport) -> dict[str, dict[str, Any]]:
    """Each threshold of ``GATE_THRESHOLDS`` against the adapter's figure:
    ``{name: {"value", "op", "threshold", "passed"}}``."""
    figures = report.figures()
    results = {}
    for name, (op, threshold) in GATE_THRESHOLDS.items():
        value = figures.get(name if name == "loss_improvement" else f"adapter_{name}")
        passed = (
            value is not None
            and {
                ">=": value >= threshold,
                "<=": value <= threshold,
                ">": value > threshold,
            }[op]
        )
        results[name] = {"value": value, "op": op, "threshold": threshold, "passed": passed}
    return results


def choose_split(dataset: Any) -> str:
    """``test`` when the dataset has one, else ``validation``; ValueError when neither."""
    for split in ("test", "validation"):
        if split in dataset and len(dataset[split]) > 0:
            return split
    raise ValueError("the dataset has no held-out split (test or validation) to evaluate on")


def held_out_prompts(split: Any, n_prompts: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, reference answer ids) of the first ``n_prompts`` examples by id,
    therapy examples first (translations answer in English by design)."""
    rows = sorted(
        range(len(split)),
        key=lambda i: (split[i]["kind"] != "therapy", split[i]["example_id"]),
    )
    prompts = []
    for i in rows[:n_prompts]:
        ids, labels = list(split[i]["input_ids"]), list(split[i]["labels"])
        first = next(k for k, label in enumerate(labels) if label != IGNORE_INDEX)
        end = next((k for k in range(first, len(labels)) if labels[k] == IGNORE_INDEX), len(labels))
        prompts.append((ids[:first], ids[first:end]))
    return prompts


def mean_answer_loss(model: Any, split: Any, pad_token_id: int, batch_size: int = 8) -> float:
    """Cross-entropy per answer token (nats), summed over the split then divided by its
    answer-token count, so long answers weigh by their length."""
    import torch

    from darija_assets.training.dataset import DynamicPaddingCollator

    collate = DynamicPaddingCollator(pad_token_id)
    total, tokens = 0.0, 0
    for start in range(0, len(split), batch_size):
        batch = collate([split[i] for i in range(start, min(start + batch_size, len(split)))])
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
        shifted = logits[:, :-1].float()
        targets = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            shifted.reshape(-1, shifted.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        total += float(loss)
        tokens += int((targets != IGNORE_INDEX).sum())
    if tokens == 0:
        raise ValueError("the split has no answer tokens to evaluate")
    return total / tokens


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[tuple[list[int], list[int]]],
    max_new_tokens: int,
    stop_ids: Sequence[int],
) -> list[Generation]:
    """Greedy answers to ``prompts``; ``stopped`` when a stop token ended the answer."""
    import torch

    out = []
    for prompt_ids, reference_ids in prompts:
        ids = torch.tensor([prompt_ids], device=model.device)
        with torch.no_grad():
            output = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=list(stop_ids),
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[0, len(prompt_ids) :].tolist()
        out.append(
            Generation(
                prompt=tokenizer.decode(prompt_ids, skip_special_tokens=True).strip(),
                answer=tokenizer.decode(new, skip_special_tokens=True).strip(),
                reference=tokenizer.decode(reference_ids, skip_special_tokens=True).strip(),
                new_tokens=len(new),
                stopped=bool(new) and new[-1] in stop_ids,
            )
        )
    return out


def evaluate_adapter(
    base_model: str | Path,
    adapter_dir: str | Path,
    dataset_dir: str | Path,
    *,
    n_prompts: int = 8,
    max_new_tokens: int = 128,
    max_examples: int | None = None,
) -> EvalReport:
    """Evaluate the adapter in ``adapter_dir`` and its base on the held-out split of the
    dataset in ``dataset_dir``; ``max_examples`` caps the loss evaluation (the first
    examples by id)."""
    from darija_assets.serving.export import stop_tokens
    from darija_assets.training.chat import load
    from darija_assets.training.dataset import load_dataset

    dataset = load_dataset(dataset_dir)
    split_name = choose_split(dataset)
    split = dataset[split_name].sort("example_id")
    if max_examples is not None:
        split = split.select(range(min(max_examples, len(split))))
    model, tokenizer = load(base_model, adapter_dir)
    prompts = held_out_prompts(split, n_prompts)
    stop_ids = [tokenizer.convert_tokens_to_ids(t) for t in stop_tokens(tokenizer)]

    def measure() -> ModelReport:
        loss = mean_answer_loss(model, split, tokenizer.pad_token_id)
        return ModelReport(
            eval_loss=loss,
            perplexity=math.exp(min(loss, 700.0)),
            generations=generate(model, tokenizer, prompts, max_new_tokens, stop_ids),
        )

    adapter_report = measure()
    with model.disable_adapter():
        base_report = measure()
    return EvalReport(
        split=split_name, examples=len(split), adapter=adapter_report, base=base_report
    )


def sample_table(report: EvalReport, limit: int = 5) -> list[Mapping[str, str]]:
    """The first ``limit`` prompts with the adapter's and the base's answers."""
    return [
        {
            "prompt": a.prompt[-300:],
            "adapter_answer": a.answer[:300],
            "base_answer": b.answer[:300],
            "reference": a.reference[:300],
        }
        for a, b in list(zip(report.adapter.generations, report.base.generations))[:limit]
    ]


def format_gate_report(report: Mapping[str, Any]) -> str:
    """The ``report.json`` adapter_eval writes, as lines for a terminal: the split, the
    adapter's and base's figures side by side, each gate check, one sample answer."""
    figures = report["figures"]
    mode = "report-only" if report.get("report_only") else "blocking"
    head = f"eval gate [{report['preset']}] ({mode}) on the {report['split']} split"
    lines = [
        f"{head}, {report['examples']} examples:",
        f"  {'':24}{'adapter':>10}{'base':>10}",
    ]
    for name in ("eval_loss", "perplexity", *SHARE_NAMES):
        adapter, base = figures.get(f"adapter_{name}"), figures.get(f"base_{name}")
        if adapter is not None:
            lines.append(f"  {name:24}{adapter:>10.3f}{base:>10.3f}")
    for name, check in report["gate"].items():
        verdict = "pass" if check["passed"] else "FAIL"
        lines.append(
            f"  {verdict:4}  {name} = {check['value']:.3f} ({check['op']} {check['threshold']})"
        )
    for row in report.get("sample", [])[:1]:
        lines.append(f"  sample prompt: {row['prompt'][-80:]!r}")
        lines.append(
            f"  adapter: {row['adapter_answer'][:80]!r}  base: {row['base_answer'][:80]!r}"
        )
    return "\n".join(lines)
