"""`darija-assets classify` as a user runs it, in a subprocess against the data
directory where emotion_classifier saved the student."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from darija_assets.partitions import EMOTIONS
from darija_assets.storage import Layout
from darija_assets_tests.classifier.conftest import FRESH_SENTENCES


@pytest.fixture(scope="module")
def data_dir(linear_report, tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    shutil.copytree(linear_report.directory, Layout(data).artifact("emotion_classifier", "linear"))
    return data


def _classify(data, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "darija_assets.cli", "classify", *args],
        env={**os.environ, "DARIJA_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_one_sentence_prints_label_and_confidence(data_dir):
    done = _classify(data_dir, FRESH_SENTENCES["Fear"])
    assert done.returncode == 0, done.stderr
    label, confidence = done.stdout.strip().split("\t")
    assert label in EMOTIONS and label == "Fear"
    assert 0 < float(confidence) <= 1


def test_a_file_is_labelled_in_batches_and_bad_lines_are_reported(data_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    records = [{"id": i, "body": text} for i, text in enumerate(FRESH_SENTENCES.values())]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"id": "no text"}))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"

    done = _classify(
        data_dir,
        "--file",
        str(source),
        "--text-field",
        "body",
        "--out",
        str(out),
        "--batch-size",
        "3",
    )
    assert done.returncode == 1  # two lines could not be labelled
    assert "line 3: not JSON" in done.stderr and "line 5: no text in field 'body'" in done.stderr
    labelled = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in labelled] == [r["id"] for r in records]
    assert [r["predicted_label"] for r in labelled] == list(FRESH_SENTENCES)
    assert all(0 < r["predicted_confidence"] <= 1 for r in labelled)

    to_stdout = _classify(data_dir, "--file", str(source), "--text-field", "body")
    assert [json.loads(line) for line in to_stdout.stdout.splitlines()] == labelled


def test_without_a_trained_student_it_says_what_to_do(tmp_path):
    done = _classify(tmp_path, "راني فرحان")
    assert done.returncode == 1
    assert "materialize emotion_classifier --partition linear" in done.stderr
