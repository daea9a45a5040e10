"""The train / validation / test split: disjoint, stratified by emotion, seeded, sized as
asked (80/10/10 by default, as the original therapy pipeline split its pairs).

A model's test score only means something if no test text was trained on or used to
pick a checkpoint, and if every emotion is represented where it is measured.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from darija_assets.training.dataset import (
    TEST,
    TRAIN,
    VALIDATION,
    build_examples,
    held_out_sizes,
    split_groups,
)
from darija_assets.training.presets import PRESETS

from .conftest import pair

TINY = PRESETS["tiny"]
#: an unbalanced corpus, as a real one is: 100 pair groups over the seven emotions
EMOTION_SIZES = {
    "Sadness": 30,
    "Fear": 20,
    "Anger": 15,
    "Joy": 15,
    "Love": 10,
    "Surprise": 5,
    "Neutral": 5,
}


def _strata() -> dict[str, str]:
    return {f"{emotion}-{i:02d}": emotion for emotion, n in EMOTION_SIZES.items() for i in range(n)}


def test_default_split_is_80_10_10_and_every_emotion_gets_its_share() -> None:
    assignment = split_groups(_strata(), seed=3)

    assert Counter(assignment.values()) == {TRAIN: 80, VALIDATION: 10, TEST: 10}
    for emotion, size in EMOTION_SIZES.items():
        per_split = Counter(s for g, s in assignment.items() if g.startswith(f"{emotion}-"))
        for split in (VALIDATION, TEST):
            # proportional share, rounded one way or the other
            assert abs(per_split[split] - size / 10) < 1, (emotion, split, per_split)


def test_the_seed_makes_the_split_stable_and_input_order_does_not_matter() -> None:
    strata = _strata()
    reordered = dict(random.Random(1).sample(list(strata.items()), len(strata)))

    first = split_groups(strata, seed=5)
    assert split_groups(reordered, seed=5) == first
    assert split_groups(strata, seed=6) != first


def test_fractions_are_configurable_and_checked() -> None:
    assignment = split_groups(_strata(), validation_fraction=0.2, test_fraction=0.05, seed=0)
    assert Counter(assignment.values()) == {TRAIN: 75, VALIDATION: 20, TEST: 5}
    assert Counter(split_groups(_strata(), 0.0, 0.0).values()) == {TRAIN: 100}
    for validation, test in ((0.5, 0.5), (-0.1, 0.1), (0.1, 1.2)):
        with pytest.raises(ValueError, match="split fractions"):
            held_out_sizes(10, validation, test)


def test_small_corpora_still_get_validation_first_and_keep_a_training_group() -> None:
    assert held_out_sizes(1, 0.1, 0.1) == (0, 0)
    assert held_out_sizes(2, 0.1, 0.1) == (1, 0)
    assert held_out_sizes(3, 0.1, 0.1) == (1, 1)
    assert held_out_sizes(100, 0.1, 0.1) == (10, 10)
    assert held_out_sizes(8, 0.25, 0.0) == (2, 0)


def _examples(tiny_tokenizer: Any, seed: int) -> tuple[Any, dict[str, Any]]:
    pairs = [pair(g, emotion=emotion) for g, emotion in _strata().items()]
    translations = [
        {"pair_id": g, "input_en": "I feel alone.", "output_en": "Take your time.", "backend": "x"}
        for g in list(_strata())[::4]
    ]
    return build_examples(pairs, translations, tiny_tokenizer, TINY, seed=seed)


def test_built_splits_are_disjoint_keep_groups_whole_and_cover_every_example(
    tiny_tokenizer: Any,
) -> None:
    dataset, stats = _examples(tiny_tokenizer, seed=9)

    ids = {name: set(split["example_id"]) for name, split in dataset.items()}
    groups = {name: set(split["group_id"]) for name, split in dataset.items()}
    assert set(ids) == {TRAIN, VALIDATION, TEST}
    for a, b in ((TRAIN, VALIDATION), (TRAIN, TEST), (VALIDATION, TEST)):
        assert not ids[a] & ids[b] and not groups[a] & groups[b], (a, b)
    assert sum(len(i) for i in ids.values()) == stats["examples_total"] == 100 + 2 * 25
    assert stats["groups_per_split"] == {TRAIN: 80, VALIDATION: 10, TEST: 10}
    assert stats["split_fractions"] == {VALIDATION: 0.1, TEST: 0.1}
    # stratified: the test split's pairs follow the corpus's emotion mix
    test_pairs = Counter(
        e for e, k in zip(dataset[TEST]["emotion"], dataset[TEST]["kind"]) if k == "therapy"
    )
    assert test_pairs["Sadness"] == 3 and test_pairs["Fear"] == 2
    assert set(test_pairs) <= set(EMOTION_SIZES) and sum(test_pairs.values()) == 10
    assert stats["per_split"][TEST]["emotion"] == dict(
        sorted(Counter(dataset[TEST]["emotion"]).items())
    )


def test_built_splits_are_stable_for_a_seed(tiny_tokenizer: Any) -> None:
    first, _ = _examples(tiny_tokenizer, seed=9)
    again, _ = _examples(tiny_tokenizer, seed=9)
    other, _ = _examples(tiny_tokenizer, seed=10)
    assert list(first[TEST]["example_id"]) == list(again[TEST]["example_id"])
    assert list(first[TEST]["example_id"]) != list(other[TEST]["example_id"])
