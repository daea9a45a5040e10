"""The measures behind the corpus asset checks, on texts where the right answer is known."""

from __future__ import annotations

import polars as pl
import pytest

from darija_assets.text.quality import (
    arabic_script_ratio,
    duplicate_ratio,
    mojibake_mask,
    mojibake_ratio,
)

GENUINE = [
    "السلام عليكم، كيداير؟ واش نتا مزيان",
    "هادا شرط، ماشي سؤال. قالها: «سمع» و«ضبع»",
    "غدا نمشيو للبحر … إن شاء الله",
    "Øresund est un détroit, très joli",
    "ça va? Ça marche — naïve café",
]


@pytest.mark.parametrize("codec", ["cp1256", "latin-1", "cp1252"])
def test_mojibake_detected_for_utf8_read_through_single_byte_codepages(codec):
    broken = [text.encode("utf-8").decode(codec, errors="ignore") for text in GENUINE[:3]]
    assert mojibake_mask(broken).to_list() == [True, True, True]


def test_known_mojibake_samples_and_replacement_character():
    samples = ["Ø§Ù„Ø³Ù„Ø§Ù…", "ط§ظ„ط³ظ„ط§ظ…", "كلام مقطوع \ufffd هنا", "Ã©tÃ© Ã  la plage"]
    assert mojibake_mask(samples).to_list() == [True, True, True, True]


def test_genuine_text_is_not_mojibake():
    assert mojibake_mask(GENUINE).to_list() == [False] * len(GENUINE)
    assert mojibake_ratio(GENUINE) == 0.0


def test_mojibake_ratio_is_share_of_texts_and_ignores_nulls():
    texts = pl.Series([GENUINE[0], GENUINE[0].encode().decode("cp1256"), None, GENUINE[1]])
    assert mojibake_ratio(texts) == pytest.approx(1 / 3)
    assert mojibake_ratio([]) == 0.0


def test_arabic_script_ratio_counts_letters_only():
    assert arabic_script_ratio(["abcd ابتث", "123 !!! ؟"]) == 0.5
    assert arabic_script_ratio(["ڭالت ليا گاع"]) == 1.0
    assert arabic_script_ratio(["hello"]) == 0.0
    assert arabic_script_ratio(pl.Series([None, "123"], dtype=pl.String)) == 0.0


def test_duplicate_ratio():
    assert duplicate_ratio(["a", "b", "a", "a", None]) == 0.5
    assert duplicate_ratio(["a", "b"]) == 0.0
    assert duplicate_ratio([]) == 0.0
