"""Cases 10, 11 and 20 of ../shared/cases run the way their READMEs say a user runs them:
each declared as a file source in $DARIJA_SOURCES, then raw_corpus, clean_text and
sentences materialized with `dagster asset materialize` into a real DAGSTER_HOME (the
command-line helpers of test_cli.py); the assertions are on the tables that landed."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from darija_assets.storage import Layout
from darija_assets_tests.test_cli import _materialize, _materialized_partitions
from darija_assets_tests.text.cases import CASE_20_SENTENCES, CASES

pytestmark = pytest.mark.slow

#: partition -> the case's input file
CASE_FILES = {
    "c10": "10_ar_presentation_forms/doc.jsonl",
    "c11": "11_ar_lam_alef_final_ligature/doc.jsonl",
    "c20": "20_dialogue_speaker_labels/story.jsonl",
}


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    root = tmp_path_factory.mktemp("cases")
    home = root / "home"
    home.mkdir()
    entries = []
    for name, case_file in CASE_FILES.items():
        path = shutil.copy(CASES / case_file, root / f"{name}.jsonl")
        entries.append({"name": name, "kind": "file", "path": str(path)})
    sources = root / "sources.json"
    sources.write_text(json.dumps(entries), encoding="utf-8")
    for name in CASE_FILES:
        _materialize(
            home,
            root / "data",
            "raw_corpus,clean_text,sentences",
            name,
            {"DARIJA_SOURCES": str(sources)},
        )
    return home, Layout(root / "data")


def _tables(layout: Layout, asset: str, partition: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return (
        pl.read_parquet(layout.table(asset, partition)),
        pl.read_parquet(layout.quarantine(asset, partition)),
    )


def test_every_case_partition_was_materialized(materialized):
    home, _ = materialized
    for asset in ("raw_corpus", "clean_text", "sentences"):
        assert _materialized_partitions(home, asset) == set(CASE_FILES)


def test_case_10_presentation_forms(materialized):
    _, layout = materialized
    cleaned, quarantined = _tables(layout, "clean_text", "c10")
    assert cleaned["clean_text"].to_list() == ["منصة واحدة. راني حزين بزاف"] * 2
    assert quarantined.height == 0
    sentences, _ = _tables(layout, "sentences", "c10")
    assert sentences["sentence"].to_list() == ["منصة واحدة.", "راني حزين بزاف"]


def test_case_11_final_lam_alef_ligatures(materialized):
    _, layout = materialized
    cleaned, quarantined = _tables(layout, "clean_text", "c11")
    assert cleaned["clean_text"].to_list() == ["كلام خلاص", "كلام خلاص", "للاباس"]
    assert quarantined.height == 0


def test_case_20_dialogue_speaker_labels(materialized):
    _, layout = materialized
    sentences, quarantined = _tables(layout, "sentences", "c20")
    assert quarantined.height == 0
    assert sentences.select("sentence", "speaker").rows() == CASE_20_SENTENCES
