"""The original project's psychologist_dataset_ready.jsonl shape, written atomically."""

from __future__ import annotations

import json

import polars as pl
import pytest

from darija_assets.therapy.export import export_original_jsonl


def test_export_writes_the_original_keys_in_order_with_arabic_intact(tmp_path):
    pairs = pl.DataFrame(
        {
            "pair_id": ["p1", "p2"],
            "instruction": ["Act as a Moroccan psychologist and help this user."] * 2,
            "input": ["حاس براسي بوحدي", "خايف من غدا"],
            "output": ["أنا معاك. شنو اللي تقل عليك؟", "تنفس بشوية."],
            "emotion": ["Sadness", "Fear"],
            "style": ["question", "advice"],
        }
    )
    target = tmp_path / "exports" / "psychologist_dataset_ready.jsonl"
    summary = export_original_jsonl(pairs, target)
    assert summary == {"path": str(target), "rows": 2}
    lines = target.read_text(encoding="utf-8").splitlines()
    assert "حاس براسي بوحدي" in lines[0]  # not \u escapes
    records = [json.loads(line) for line in lines]
    assert [list(r) for r in records] == [["instruction", "input", "output", "emotion_tag"]] * 2
    assert records[1] == {
        "instruction": "Act as a Moroccan psychologist and help this user.",
        "input": "خايف من غدا",
        "output": "تنفس بشوية.",
        "emotion_tag": "Fear",
    }
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_export_refuses_rows_without_the_needed_columns(tmp_path):
    with pytest.raises(ValueError, match="lack columns: emotion"):
        export_original_jsonl(
            pl.DataFrame({"instruction": ["i"], "input": ["a"], "output": ["b"]}),
            tmp_path / "x.jsonl",
        )
    assert not (tmp_path / "x.jsonl").exists()
