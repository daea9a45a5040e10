"""Measurement (not a ratio benchmark): wall time and peak memory of the training half on
CPU at real size, for the issue notes and the README.

This script has no baseline to divide by: it reports absolute figures for this machine.
Three phases, each in its own subprocess so each peak RSS is its own:

* ``base``: build the locally trained ``tiny`` base (tokenizer + Gemma-2-shaped model)
  from the pairs' text (once; not part of the two figures asked for);
* ``tokenize``: ``build_examples`` + ``save_dataset`` over ``--pairs`` made-up Darija
  instruction pairs shaped like imported ones (an instruction, a patient text and a
  therapist answer of a few sentences, an emotion), split 80/10/10;
* ``train``: ``train_adapter`` on the ``tiny`` preset for ``--steps`` optimizer steps,
  evaluating on the preset's capped validation sample at its ``eval_steps``.

    python benchmarks/measure_training.py                     # 5,000 pairs, 100 steps
    python benchmarks/measure_training.py --pairs 500 --steps 20   # quick

Peak memory is ``getrusage(RUSAGE_SELF).ru_maxrss`` of each phase's process (it includes
the Python interpreter and the imported libraries).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPENERS = ["والله", "صراحة", "ما عرفتش", "كل نهار", "من نهار", "بصح", "ديما", "دابا"]
FEELINGS = [
    "كنحس براسي بوحدي",
    "خايف من الخدمة الجديدة",
    "فرحان حيت نجحت فالامتحان",
    "معصب على خويا",
    "حزين على صاحبي اللي مشا",
    "متفاجئ من داكشي اللي وقع",
    "كنبغي مراتي بزاف",
    "ما فيا والو اليوم",
]
DETAILS = [
    "وما عندي حتى واحد نهضر معاه",
    "والعائلة ما فاهمانيش",
    "وكنفكر فيها الليل كامل",
    "وما بقيتش كنعس مزيان",
    "وبغيت نبدل حياتي",
    "ومشيت عند الطبيب",
]
ANSWERS = [
    "الله يكون معاك، احكي ليا كثر على هاد الإحساس.",
    "مفهوم هاد الشي اللي كتحس بيه، وعندك الحق تحس بيه.",
    "واش جربتي تهضر مع شي حد قريب ليك؟",
    "خد وقتك، ما كاين حتى شي زربة.",
    "شنو اللي كيعاونك ملي كتكون فهاد الحالة؟",
    "نتا ماشي بوحدك، بزاف ديال الناس دازو من هاد الشي.",
    "حاول تتنفس بشوية وتركز على اللحظة اللي نتا فيها.",
]
EMOTIONS = ("Sadness", "Fear", "Joy", "Anger", "Love", "Surprise", "Neutral")
INSTRUCTION = "نتا معالج نفسي مغربي، جاوب بالدارجة بتعاطف."


def made_up_pairs(n: int, seed: int = 0) -> list[dict]:
    """``n`` therapy_pairs rows of made-up Darija: imported-style instruction records."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        patient = " ".join(
            [rng.choice(OPENERS), rng.choice(FEELINGS), rng.choice(DETAILS), rng.choice(DETAILS)]
        )
        answer = " ".join(rng.sample(ANSWERS, k=rng.randint(2, 5)))
        rows.append(
            {
                "pair_id": f"imported-{i:05d}",
                "instruction": INSTRUCTION,
                "input": f'Patient says: "{patient}"',
                "output": answer,
                "emotion": EMOTIONS[i % len(EMOTIONS)],
                "style": "imported",
                "backend": "imported",
                "model": "pairs.jsonl",
                "source": "imported",
            }
        )
    return rows


def _usage() -> dict:
    """Peak RSS (MiB) and CPU seconds of this process; CPU time is the steadier figure on a
    machine shared with other work, wall time the one a user waits."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
    }


def phase_base(work: Path, n_pairs: int) -> dict:
    from darija_assets.training.tiny import ensure_tiny_base

    pairs = made_up_pairs(n_pairs)
    start = time.perf_counter()
    ensure_tiny_base(work / "base", [t for p in pairs for t in (p["input"], p["output"])])
    return {"wall_s": time.perf_counter() - start}


def phase_tokenize(work: Path, n_pairs: int) -> dict:
    from darija_assets.training.dataset import build_examples, load_tokenizer, save_dataset
    from darija_assets.training.presets import PRESETS

    pairs = made_up_pairs(n_pairs)
    start = time.perf_counter()
    tokenizer = load_tokenizer(PRESETS["tiny"], work / "base")
    dataset, stats = build_examples(pairs, None, tokenizer, PRESETS["tiny"], seed=42)
    save_dataset(dataset, stats, work / "dataset")
    return {
        "wall_s": time.perf_counter() - start,
        "examples_per_split": stats["examples_per_split"],
        "tokens_p50": stats["token_lengths"]["p50"],
        "tokens_max": stats["token_lengths"]["max"],
    }


def phase_train(work: Path, steps: int) -> dict:
    from darija_assets.training.presets import PRESETS
    from darija_assets.training.trainer import latest_checkpoint, train_adapter

    preset = PRESETS["tiny"]
    start = time.perf_counter()
    result = train_adapter(
        preset, work / "dataset", work / "base", work / "adapter", work / "ckpt", max_steps=steps
    )
    wall = time.perf_counter() - start
    _, checkpoint = latest_checkpoint(work / "ckpt")
    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    evals = [e for e in history if "eval_runtime" in e]
    return {
        "wall_s": wall,
        "global_step": result.global_step,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "evaluations": len(evals),
        "eval_runtime_s": sum(e["eval_runtime"] for e in evals),
        "eval_examples": result.eval_examples,
        "validation_examples": result.validation_examples,
        "train_examples": result.train_examples,
        "eval_steps": preset.eval_steps,
    }


PHASES = {"base": phase_base, "tokenize": phase_tokenize, "train": phase_train}


def run_phase(name: str, work: Path, args: argparse.Namespace) -> dict:
    """Run one phase in a fresh interpreter and return its figures."""
    command = [sys.executable, __file__, "--phase", name, "--work", str(work)]
    command += ["--pairs", str(args.pairs), "--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--work", type=Path, help="working directory (default: a temp dir)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # child process: one phase, its figures as the last stdout line
        argument = args.steps if args.phase == "train" else args.pairs
        figures = PHASES[args.phase](args.work, argument)
        print(json.dumps({**figures, **_usage()}))
        return

    with tempfile.TemporaryDirectory(prefix="measure-training-") as scratch:
        work = args.work or Path(scratch)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"measurement only (no baseline); {args.pairs} pairs, {args.steps} steps, CPU")
        print(f"{os.cpu_count()} CPUs, load average before: {load}")
        for name in ("base", "tokenize", "train"):
            figures = run_phase(name, work, args)
            wall, cpu = figures.pop("wall_s"), figures.pop("cpu_s")
            peak = figures.pop("peak_rss_mib")
            print(
                f"{name:>9}: {wall:7.1f} s wall, {cpu:7.1f} s CPU (process, imports included), "
                f"peak RSS {peak:7.1f} MiB  {json.dumps(figures)}"
            )


if __name__ == "__main__":
    main()
