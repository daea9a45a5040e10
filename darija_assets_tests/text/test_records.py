"""Record kinds of file sources (text/records.py) without Dagster: what each kind reads
from a record, which records are quarantined and why, and which declarations the source
registry refuses. The end-to-end path through the graph is in
assets/test_imported_data.py."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from darija_assets.sources import SOURCES_ENV, load_registry
from darija_assets.storage import DATA_DIR_ENV
from darija_assets.text.importers import ImportOptions, import_file_records
from darija_assets.text.records import label_rows, place_by_emotion

ONE_EXCHANGE = "an instruction record is one user turn answered by one assistant turn"


def _jsonl(tmp_path: Path, rows: list, name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_instruction_layouts_alpaca_openai_and_sharegpt(tmp_path):
    path = _jsonl(
        tmp_path,
        [
            {"instruction": "sys", "input": "حاس براسي بوحدي", "output": "  معاك  ", "emotion": "sad"},
            {"messages": [{"role": "user", "content": "خايف"}, {"role": "assistant", "content": "تنفس"}]},
            {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "مقلق"},
                               {"from": "gpt", "value": "علاش؟"}], "emotion_tag": "ANGER"},
            {"instruction": "كنحس براسي مقلق", "input": "", "output": "احكي ليا"},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                               {"from": "human", "value": "c"}]},
            {"messages": [{"role": "assistant", "content": "b"}, {"role": "user", "content": "a"}]},
            {"instruction": "x", "input": "y"},
            {"messages": [{"role": "tool", "content": "x"}]},
        ],
    )  # fmt: skip
    options = ImportOptions(records="instructions", label_map={"sad": "Sadness"})
    result, rows = import_file_records(path, "s", options)
    assert result.frame["raw_text"].to_list() == [
        "حاس براسي بوحدي",
        "خايف",
        "مقلق",
        "كنحس براسي مقلق",
    ]
    assert rows["output"].to_list() == ["  معاك  ", "تنفس", "علاش؟", "احكي ليا"]  # as written
    assert rows["instruction"].to_list() == ["sys", None, "s", None]
    assert rows["label"].to_list() == ["Sadness", None, "ANGER", None]
    assert rows["line"].to_list() == [1, 2, 3, 4]
    assert result.quarantine["reason"].to_list() == [
        f"line 5: 2 user and 1 assistant turns in 'conversations': {ONE_EXCHANGE}",
        f"line 6: 1 user and 1 assistant turns in 'messages': {ONE_EXCHANGE}",
        "line 7: no answer under 'output'",
        "line 8: turn 1 of 'messages' has role 'tool'",
    ]


def test_labels_csv_with_a_label_map_that_renames_and_drops(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("text,label\nفرحان,فرح\nخايف,FEAR\nمقرف,Disgust\nعادي,\n", encoding="utf-8")
    options = ImportOptions(records="labels", label_map={"فرح": "Joy", "disgust": None})
    result, rows = import_file_records(path, "s", options)
    assert rows["label"].to_list() == ["Joy", "FEAR", None]
    assert rows["label_as_written"].to_list() == ["فرح", "FEAR", None]
    assert rows["url"].to_list() == [f"{path.as_uri()}#L{n}" for n in (2, 3, 5)]
    assert result.quarantine["reason"].to_list() == [
        "line 4: label 'Disgust' is dropped by label_map"
    ]
    with pytest.raises(ValueError, match="has no column 'emotion'"):
        import_file_records(path, "s", ImportOptions(records="labels", label_field="emotion"))


def test_labels_join_sentences_by_line_and_refuse_labels_outside_the_set(tmp_path):
    path = _jsonl(tmp_path, [{"text": "a", "label": "JOY"}, {"text": "b", "label": "Bored"},
                             {"text": "c"}])  # fmt: skip
    _, rows = import_file_records(path, "s", ImportOptions(records="labels"))
    sentences = pl.DataFrame(
        {
            "sentence_id": ["s1", "s2", "s3", "s4"],
            "sentence": ["a", "a two", "b", "c"],
            "url": [f"{path.as_uri()}#L{n}" for n in (1, 1, 2, 3)],
            "source": ["s"] * 4,
        }
    )
    answers, quarantine = label_rows(sentences, rows, ["Joy", "Sadness"], None)
    assert answers["sentence_id"].to_list() == ["s1", "s2"]  # both sentences of line 1
    assert set(answers["label"]) == {"Joy"} and set(answers["backend"]) == {"imported"}
    assert set(answers["model"]) == {str(path)}
    assert quarantine["sentence_id"].to_list() == ["s3"]
    assert quarantine["reason"][0].startswith(
        "imported label 'Bored' (line 2) is not in the label set"
    )
    # line 3 has no label: in neither frame, so the teacher labels it; a default takes it instead
    answers, _ = label_rows(sentences, rows, ["Joy", "Sadness"], "Sadness")
    assert answers.filter(pl.col("sentence_id") == "s4")["label"].to_list() == ["Sadness"]


def test_records_without_an_emotion_take_the_teachers_majority(tmp_path):
    path = _jsonl(tmp_path, [{"darija": "a", "english": "A"}, {"darija": "b", "english": "B"},
                             {"darija": "c", "english": "C", "emotion": "Love"}])  # fmt: skip
    _, rows = import_file_records(path, "s", ImportOptions(records="parallel"))
    url = [f"{path.as_uri()}#L{n}" for n in (1, 2, 3)]
    labels = pl.DataFrame({"url": [url[0], url[0], url[0]], "label": ["Fear", "Joy", "Fear"]})
    placed, unplaced = place_by_emotion(rows, labels, ["Fear", "Joy", "Love"], None)
    assert placed.select("url", "emotion").rows() == [(url[0], "Fear"), (url[2], "Love")]
    assert sum(unplaced.values()) == 1 and "no teacher label yet" in next(iter(unplaced))


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"records": "pairs"}, "records must be one of"),
        ({"label_field": "emotion"}, "['label_field'] do not apply to records 'text'"),
        ({"records": "parallel", "label_field": "x"}, "do not apply to records 'parallel'"),
        ({"records": "labels", "format": "txt"}, "need a format with fields"),
        ({"records": "labels", "label_map": {"a": 1}}, "'label_map' must map label names"),
        ({"records": "instructions", "default_emotion": "Happy"}, "default_emotion 'Happy'"),
        ({"records": "instructions", "output_field": ""}, "'output_field' must name a field"),
        ({"records": "labels", "label_fields": "x"}, "did you mean 'label_field'"),
    ],
)
def test_bad_record_declarations_are_refused_with_their_reason(tmp_path, entry, reason):
    file = tmp_path / "sources.json"
    entries = [{"name": "mine", "kind": "file", "path": "in.jsonl", **entry}]
    file.write_text(json.dumps(entries), encoding="utf-8")
    registry = load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path / "data")})
    assert "mine" not in registry.sources
    [problem] = registry.problems
    assert reason in problem


def test_a_good_declaration_of_each_kind_loads(tmp_path):
    file = tmp_path / "sources.json"
    entries = [
        {"name": "t", "kind": "file", "path": "t.jsonl", "text_field": "body"},
        {"name": "l", "kind": "file", "path": "l.csv", "records": "labels", "label_field": "y",
         "label_map": {"DISGUST": None, "حزن": "Sadness"}},
        {"name": "i", "kind": "file", "path": "i.jsonl", "records": "instructions",
         "emotion_field": "category", "default_emotion": "sadness"},
        {"name": "p", "kind": "file", "path": "p.csv", "records": "parallel",
         "darija_field": "ary", "english_field": "en"},
    ]  # fmt: skip
    file.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    registry = load_registry({SOURCES_ENV: str(file), DATA_DIR_ENV: str(tmp_path / "data")})
    assert registry.problems == []
    assert registry.sources["l"].extra["records"] == "labels"
    assert registry.sources["p"].extra["darija_field"] == "ary"


def test_instruction_csv_with_its_own_column_names_and_a_default_emotion(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        "patient,therapist,category\n"
        '"كنحس براسي مقلق, بزاف","علاش؟ احكي ليا",anger\n'
        "ما بقيتش قادر,الله يكون معاك,\n"
        "خايف,,fear\n",
        encoding="utf-8",
    )
    options = ImportOptions(
        records="instructions",
        input_field="patient",
        output_field="therapist",
        emotion_field="category",
        default_emotion="Sadness",
    )
    result, rows = import_file_records(path, "s", options)
    assert rows.select("line", "input", "output", "label").rows() == [
        (2, "كنحس براسي مقلق, بزاف", "علاش؟ احكي ليا", "anger"),
        (3, "ما بقيتش قادر", "الله يكون معاك", None),
    ]
    assert result.quarantine["reason"].to_list() == ["line 4: no answer under 'therapist'"]
    placed, unplaced = place_by_emotion(rows, None, ["Sadness", "Anger"], "Sadness")
    assert placed["emotion"].to_list() == ["Anger", "Sadness"] and not unplaced
    with pytest.raises(ValueError, match="has no column 'output'"):
        import_file_records(path, "s", ImportOptions(records="instructions"))
