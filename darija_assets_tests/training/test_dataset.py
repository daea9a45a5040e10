"""tokenized_dataset: which examples are built, which are filtered and why, and the split.

Every row that does not become an example must show up in the stats with its
reason; the split must not depend on row order; the stored dataset must carry
the mask; padding must happen per batch.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from darija_assets.training.dataset import (
    SPLITS,
    DynamicPaddingCollator,
    build_examples,
    load_dataset,
    load_stats,
    save_dataset,
)
from darija_assets.training.formatting import IGNORE_INDEX
from darija_assets.training.presets import PRESETS

from .conftest import ANSWER, pair

TINY = PRESETS["tiny"]


def corpus() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pairs = [
        pair(
            f"p{i:02d}",
            emotion=("Sadness", "Fear", "Anger")[i % 3],
            style=("question", "advice")[i % 2],
        )
        for i in range(20)
    ]
    translations = [
        {
            "pair_id": "p00",
            "emotion": "Sadness",
            "input_en": "I feel alone.",
            "output_en": "May God be with you.",
            "backend": "groq",
            "model": "llama-3.3-70b-versatile",
        },
        {
            "pair_id": "p01",
            "emotion": "Fear",
            "input_en": "I am scared.",
            "output_en": "Breathe slowly.",
            "backend": "groq",
            "model": "llama-3.3-70b-versatile",
        },
        {
            "pair_id": "gone",
            "emotion": "Fear",
            "input_en": "x",
            "output_en": "y",
            "backend": "groq",
            "model": "m",
        },
    ]
    return pairs, translations


def test_examples_filters_and_stats_are_exact(tiny_tokenizer: Any) -> None:
    pairs, translations = corpus()
    pairs.append(pair("empty", output="   "))
    pairs.append(pair("long", input="كلام " * 400))
    pairs.append(pair("p03"))  # a second row with an existing pair id
    translations.append({**translations[0], "input_en": "Alone again."})  # p00 translated twice

    dataset, stats = build_examples(pairs, translations, tiny_tokenizer, TINY, seed=7)

    # 20 pairs + 2 translated pairs x (input, output)
    assert stats["examples_total"] == 24
    assert stats["examples_per_split"] == {name: len(split) for name, split in dataset.items()}
    assert set(dataset) == {"train", "validation", "test"}
    assert stats["filtered"] == {
        "duplicate_pairs": 1,
        "duplicate_translations": 1,
        "invalid_pairs": 1,
        "no_answer_tokens": 0,
        "orphan_translations": 1,
        "too_long": 1,
    }
    assert stats["invalid_rows"] == [
        {"id": "empty", "reason": "therapy pair missing output"},
        {"id": "p03", "reason": "duplicate pair_id"},
        {"id": "gone", "reason": "translation of a pair that is not in therapy_pairs"},
        {"id": "p00", "reason": "duplicate translation of one pair"},
    ]
    [too_long] = stats["too_long"]
    assert too_long["id"] == "long:therapy" and too_long["tokens"] > TINY.max_length

    kinds = {split: stats["per_split"][split]["kind"] for split in SPLITS}
    assert sum(k.get("therapy", 0) for k in kinds.values()) == 20
    assert sum(k.get("translation", 0) for k in kinds.values()) == 4
    emotions = [stats["per_split"][s]["emotion"] for s in SPLITS]
    assert (
        sum(e.get("Sadness", 0) for e in emotions) == 7 + 2
    )  # p00 p03 ... p18, and p00's translations
    backends = [stats["per_split"][s]["backend"] for s in SPLITS]
    assert sum(b.get("groq", 0) for b in backends) == 4

    lengths = [n for split in dataset.values() for n in split["n_tokens"]]
    assert stats["token_lengths"]["min"] == min(lengths)
    assert stats["token_lengths"]["max"] == max(lengths) <= TINY.max_length
    assert stats["token_lengths"]["p50"] == sorted(lengths)[len(lengths) // 2 - 1]


def test_stored_examples_carry_their_mask(tiny_tokenizer: Any) -> None:
    pairs, translations = corpus()
    dataset, _ = build_examples(pairs, translations, tiny_tokenizer, TINY, seed=7)

    for example in [e for split in dataset.values() for e in split]:
        answer_ids = [
            t for t, label in zip(example["input_ids"], example["labels"]) if label != IGNORE_INDEX
        ]
        assert len(example["labels"]) == len(example["input_ids"]) == example["n_tokens"]
        assert len(answer_ids) == example["n_answer_tokens"]
        if example["kind"] == "therapy":
            assert tiny_tokenizer.decode(answer_ids) == ANSWER + "<end_of_turn>"
    translated = {e["example_id"]: e for split in dataset.values() for e in split}[
        "p01:translation-output"
    ]
    answer = [
        t
        for t, label in zip(translated["input_ids"], translated["labels"])
        if label != IGNORE_INDEX
    ]
    assert tiny_tokenizer.decode(answer) == "Breathe slowly.<end_of_turn>"


def test_split_is_seeded_and_independent_of_row_order(tiny_tokenizer: Any) -> None:
    pairs, translations = corpus()
    shuffled = pairs[:]
    random.Random(3).shuffle(shuffled)

    def split_ids(rows: list[dict[str, Any]], seed: int) -> dict[str, list[str]]:
        dataset, _ = build_examples(rows, translations, tiny_tokenizer, TINY, seed=seed)
        return {name: list(split["example_id"]) for name, split in dataset.items()}

    first = split_ids(pairs, seed=11)
    assert split_ids(shuffled, seed=11) == first
    assert split_ids(pairs, seed=12) != first
    # 20 groups at 80/10/10: 2 validation and 2 test groups, each with all of its examples
    # (a pair and its translations), and no group on two sides
    groups = {name: {i.split(":")[0] for i in ids} for name, ids in first.items()}
    assert len(groups["validation"]) == 2 and len(groups["test"]) == 2
    assert not (groups["train"] & groups["validation"] or groups["train"] & groups["test"])
    assert not groups["validation"] & groups["test"]


def test_conversations_are_chunked_between_turns(tiny_tokenizer: Any) -> None:
    turns = []
    for i in range(10):
        turns += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    conversation = {
        "conversation_id": "session-1",
        "turns": turns,
        "source": "therapy-sessions",
        "emotion": "Fear",
    }

    dataset, stats = build_examples(
        [],
        None,
        tiny_tokenizer,
        TINY,
        conversations=[conversation],
        max_exchanges_per_chunk=4,
        chunk_overlap=0.25,
    )

    # one conversation is one group: nothing to hold out
    assert "validation" not in dataset and "test" not in dataset
    chunks = list(dataset["train"])
    assert [c["example_id"] for c in chunks] == [f"session-1:chunk-{n:04d}" for n in range(3)]
    trained = []
    for chunk in chunks:
        text = tiny_tokenizer.decode(chunk["input_ids"])
        assert text.startswith("<bos><start_of_turn>user\n") and text.endswith("<end_of_turn>\n")
        answer_ids = [
            t for t, label in zip(chunk["input_ids"], chunk["labels"]) if label != IGNORE_INDEX
        ]
        trained.append(tiny_tokenizer.decode(answer_ids))
    assert "".join(trained) == "".join(f"a{i}<end_of_turn>" for i in range(10))
    assert stats["per_split"]["train"]["kind"] == {"conversation": 3}


def test_saved_dataset_reloads_with_its_stats(tmp_path: Path, tiny_tokenizer: Any) -> None:
    pairs, translations = corpus()
    dataset, stats = build_examples(pairs, translations, tiny_tokenizer, TINY, seed=7)
    target = save_dataset(dataset, stats, tmp_path / "tokenized_dataset" / "tiny")

    reloaded = load_dataset(target)
    assert list(reloaded["train"]["input_ids"]) == list(dataset["train"]["input_ids"])
    assert list(reloaded["validation"]["labels"]) == list(dataset["validation"]["labels"])
    assert list(reloaded["test"]["example_id"]) == list(dataset["test"]["example_id"])
    assert load_stats(target) == stats
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny"], (
        "no temporary directory left behind"
    )


def test_collator_pads_each_batch_to_its_longest_example() -> None:
    batch = DynamicPaddingCollator(pad_token_id=0)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )

    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_imported_parallel_text_trains_darija_to_english(tiny_tokenizer: Any) -> None:
    # Imported parallel rows (text/records.py) have no pair: each is its own example and group.
    pairs, _ = corpus()
    parallel = {
        "pair_id": "imported-0123",
        "emotion": "Joy",
        "input_en": "I am very happy today.",
        "output_en": None,
        "backend": "imported",
        "model": "parallel.csv",
        "darija": "فرحان بزاف اليوم",
        "url": "file:///data/parallel.csv#L2",
        "source": "parallel_csv",
    }
    no_english = {**parallel, "pair_id": "imported-4567", "input_en": ""}
    dataset, stats = build_examples(pairs, [parallel, no_english], tiny_tokenizer, TINY, seed=7)

    examples = {e["example_id"]: e for split in dataset.values() for e in split}
    example = examples["imported-0123:parallel"]
    assert (example["kind"], example["emotion"], example["backend"], example["source"]) == (
        "translation",
        "Joy",
        "imported",
        "parallel_csv",
    )
    answer = [t for t, lab in zip(example["input_ids"], example["labels"]) if lab != IGNORE_INDEX]
    assert tiny_tokenizer.decode(answer) == "I am very happy today.<end_of_turn>"
    assert "imported-4567:parallel" not in examples
    assert stats["filtered"]["invalid_translations"] == 1
    assert {"id": "imported-4567", "reason": "parallel text missing input_en"} in stats[
        "invalid_rows"
    ]
