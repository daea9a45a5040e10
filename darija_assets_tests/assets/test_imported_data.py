"""Bring your own data (issue 11): labelled text, instruction records and parallel text
declared in $DARIJA_SOURCES flow into the graph through real Dagster materializations,
with the real groq and google-genai SDKs talking to the stub server, which counts every
request. What must hold: nothing imported is sent to a teacher, imported pairs keep their
answers and count against the quota, the tokenized masks cover exactly those answers plus
the end-of-turn token, and every imported row names its file and line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from darija_assets.llm.stub_server import StubServer, lexicon_label_teacher
from darija_assets.storage import Layout
from darija_assets.training.formatting import IGNORE_INDEX
from darija_assets_tests import REPO_ROOT
from darija_assets_tests.metadata_blocks import read_block
from darija_assets_tests.therapy.teachers import FAKE_KEY, SENTENCES, therapist

pytestmark = pytest.mark.slow

#: how each written label is spelt in the labelled file, round-robin: the label set's own
#: spelling, upper case (the original Gemini pass), Arabic names (mapped by label_map)
ARABIC = {"Sadness": "حزن", "Fear": "خوف", "Anger": "غضب", "Joy": "فرح"}
LABEL_MAP = {**{arabic: emotion for emotion, arabic in ARABIC.items()}, "Disgust": None}
EMOTIONS = ("Sadness", "Fear", "Anger", "Joy")
#: therapy quotas of the test: Sadness needs pairs beyond its 100 tagged imported ones, Fear's
#: 100 are more than its quota (all kept: the quota bounds what is generated)
QUOTAS = {"Sadness": 130, "Fear": 20}
TAGGED_PER_EMOTION = 100
UNTAGGED = 8
PAIR_BATCH = 10
CHILD = Path(__file__).with_name("materialize_child.py")


def _text(emotion: str, i: int) -> str:
    # one sentence per record (no sentence-ending mark), unique by its number
    return f"{SENTENCES[emotion][i % 3]} مرة {i}"


def _labelled_rows() -> list[dict]:
    rows = []
    for i in range(280):
        emotion = EMOTIONS[i % 4]
        spelling = (emotion, emotion.upper(), ARABIC[emotion])[i % 3]
        rows.append({"id": i, "sentence": _text(emotion, i), "emotion": spelling})
    # 20 without a label (the teacher's), 5 an 8th class the map drops, 5 outside the set
    rows += [{"id": 1000 + i, "sentence": _text("Love", i)} for i in range(20)]
    rows += [
        {"id": 2000 + i, "sentence": _text("Neutral", i), "emotion": "Disgust"} for i in range(5)
    ]
    rows += [
        {"id": 3000 + i, "sentence": _text("Surprise", i), "emotion": "Bored"} for i in range(5)
    ]
    return rows


def _answer(i: int) -> str:
    return f"الله يكون معاك، هاد الجواب رقم {i} كتبو المعالج فالملف."


def _instruction_rows() -> list[dict]:
    rows = []
    for i in range(200):
        emotion = ("Sadness", "Fear")[i % 2]
        patient = f"{_text(emotion, i)} فالخدمة"
        if i % 4 == 3:  # the ShareGPT / OpenAI messages layout
            rows.append(
                {
                    "messages": [
                        {"role": "system", "content": "نتا معالج نفسي كتهضر بالدارجة."},
                        {"role": "user", "content": patient},
                        {"role": "assistant", "content": _answer(i)},
                    ],
                    "emotion_tag": emotion.upper(),
                }
            )
        else:  # Alpaca, as the original project's psychologist_dataset_ready.jsonl
            rows.append(
                {
                    "instruction": "نتا معالج نفسي كتهضر بالدارجة.",
                    "input": patient,
                    "output": _answer(i),
                    "emotion_tag": emotion,
                }
            )
    # no emotion and no default_emotion: the teacher labels their text, and that label
    # decides their partition
    untagged = ("راني حزين بزاف", "خايف بزاف")  # the lexicon teacher: Sadness, Fear
    rows += [
        {"input": f"{untagged[i % 2]} مرة {i} بلا تصنيف", "output": _answer(500 + i)}
        for i in range(UNTAGGED)
    ]
    return rows


def _teacher_label(layout: Layout, url: str) -> str:
    labels = pl.read_parquet(layout.table("teacher_labels", "pairs"))
    [label] = labels.filter(pl.col("url") == url)["label"].to_list()
    return label


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _materialize(assets: str, partition: str, run_config=None, **llm) -> dict:
    """Materialize ``assets`` (comma-separated) in a child process that loads the sources
    file (see materialize_child.py); returns each asset's metadata and each check's outcome."""
    spec = {"assets": assets.split(","), "partition": partition, "run_config": run_config, **llm}
    done = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _vendor(stub: StubServer, vendor: str) -> dict:
    return {
        "backend": vendor,
        "gemini_base_url": stub.url,
        "groq_base_url": stub.url,
        "gemini_api_key": FAKE_KEY,
        "groq_api_key": FAKE_KEY,
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
        "max_retries": 2,
    }


def _asked(stub: StubServer) -> list[str]:
    """Every text a teacher was sent, item by item."""
    return [item["text"] for r in stub.requests for item in r.items()]


@pytest.fixture(scope="module")
def files(env, tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("byod")
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    monkeypatch_module.setenv("DAGSTER_HOME", str(home))
    labelled = _write_jsonl(folder / "labelled.jsonl", _labelled_rows())
    pairs = _write_jsonl(folder / "pairs.jsonl", _instruction_rows())
    (folder / "labels.csv").write_text(
        "نص,تصنيف\n" + "".join(f"{_text('Anger', i)} فالطريق,غضب\n" for i in range(8)), "utf-8"
    )
    (folder / "parallel.csv").write_text(
        "darija,english,emotion\n"
        + "".join(f'"{_text("Joy", i)}, صافي","I am happy, time {i}.",Joy\n' for i in range(6))
        + "مرحبا بيك,,Joy\n",
        "utf-8",
    )
    sources = [
        {"name": "labelled", "kind": "file", "path": "labelled.jsonl", "records": "labels",
         "text_field": "sentence", "label_field": "emotion", "label_map": LABEL_MAP},
        {"name": "pairs", "kind": "file", "path": "pairs.jsonl", "records": "instructions"},
        {"name": "labels_csv", "kind": "file", "path": "labels.csv", "records": "labels",
         "text_field": "نص", "label_field": "تصنيف", "label_map": LABEL_MAP},
        {"name": "parallel_csv", "kind": "file", "path": "parallel.csv", "records": "parallel"},
    ]  # fmt: skip
    (folder / "sources.json").write_text(json.dumps(sources, ensure_ascii=False), "utf-8")
    monkeypatch_module.setenv("DARIJA_SOURCES", str(folder / "sources.json"))
    return {"labelled": labelled, "pairs": pairs, "folder": folder}


@pytest.fixture(scope="module")
def labelled(files):
    """The corpus of the four sources, then teacher_labels with groq on the stub server."""
    for source in ("labelled", "pairs", "labels_csv", "parallel_csv"):
        _materialize("raw_corpus,clean_text,sentences", source)
    with StubServer(lexicon_label_teacher) as stub:
        results = {
            source: _materialize("teacher_labels", source, llm=_vendor(stub, "groq"))
            for source in ("labelled", "pairs", "labels_csv", "parallel_csv")
        }
        asked = _asked(stub)
    return results, asked


def test_imported_labels_are_reused_and_never_sent_to_the_teacher(files, labelled, env):
    results, asked = labelled
    layout = Layout(env)
    sentence_rows = pl.read_parquet(layout.table("sentences", "labelled"))
    labels = pl.read_parquet(layout.table("teacher_labels", "labelled"))
    imported = labels.filter(pl.col("backend") == "imported")

    # 280 labelled records, whatever the spelling; the 20 unlabelled went to the teacher
    assert imported.height == 280
    assert set(imported["label"]) == set(EMOTIONS)
    assert set(imported["model"]) == {str(files["labelled"])}
    assert imported["url"].str.contains(f"^{files['labelled'].as_uri()}#L\\d+$").all()
    # the upper-case and Arabic spellings are kept as written
    assert {"SADNESS", "حزن"} <= set(imported["raw_answer"])
    taught = labels.filter(pl.col("backend") == "groq")
    assert taught.height == 20
    pair_labels = pl.read_parquet(layout.table("teacher_labels", "pairs"))
    taught_pairs = pair_labels.filter(pl.col("backend") == "groq")
    assert taught_pairs.height == UNTAGGED
    assert pair_labels.filter(pl.col("backend") == "imported").height == 2 * TAGGED_PER_EMOTION
    texts = dict(zip(sentence_rows["sentence_id"], sentence_rows["sentence"]))
    # the teacher was asked exactly the sentences of records without a label: 0 requests
    # for imported rows, from any of the four sources
    assert sorted(asked) == sorted([*taught["sentence"], *taught_pairs["sentence"]])
    assert not {texts[sid] for sid in imported["sentence_id"]} & set(asked)

    # an 8th class the map drops: quarantined at import with the reason and its line
    raw_quarantine = pl.read_parquet(layout.quarantine("raw_corpus", "labelled"))
    dropped = raw_quarantine.filter(pl.col("reason").str.contains("dropped by label_map"))
    assert dropped.height == 5
    assert dropped["line"].to_list() == list(range(301, 306))
    # a label outside the set: quarantined in teacher_labels with its reason, never taught
    quarantine = pl.read_parquet(layout.quarantine("teacher_labels", "labelled"))
    assert quarantine.height == 5
    assert quarantine["reason"].str.contains("imported label 'Bored' \\(line 3\\d\\d\\)").all()
    assert not set(quarantine["sentence"]) & set(asked)
    meta = results["labelled"]["metadata"]["teacher_labels"]
    counts = read_block(meta["counts"])
    assert counts["imported_labels"] == 280 and counts["imported_labels_quarantined"] == 5
    # 5 refused of 305 sentences: the ratio is over every sentence, not over those taught
    assert results["labelled"]["checks"] == {
        "labels_in_label_set": True,
        "quarantine_ratio": True,
        "complete": True,
    }

    # CSV: Arabic column names and Arabic label names
    csv_labels = pl.read_parquet(layout.table("teacher_labels", "labels_csv"))
    assert csv_labels.height == 8
    assert set(csv_labels["label"]) == {"Anger"} and set(csv_labels["backend"]) == {"imported"}
    # parallel records brought their emotion: nothing was asked for them
    rows = pl.read_parquet(layout.table("teacher_labels", "parallel_csv"))
    assert set(rows["backend"]) == {"imported"}
    assert not set(rows["sentence"]) & set(asked)


@pytest.fixture(scope="module")
def pairs_built(labelled):
    config = {"ops": {"therapy_pairs": {"config": {"quotas": QUOTAS, "batch_size": PAIR_BATCH}}}}
    with StubServer(therapist()) as stub:
        results = {
            emotion: _materialize("therapy_pairs", emotion, config, llm=_vendor(stub, "gemini"))
            for emotion in QUOTAS
        }
        asked, requests = _asked(stub), len(stub.requests)
    return results, asked, requests


def test_imported_pairs_keep_their_answers_and_only_the_remainder_is_generated(
    files, pairs_built, env
):
    results, asked, requests = pairs_built
    layout = Layout(env)
    written = _instruction_rows()
    url = files["pairs"].as_uri()
    # a record's emotion: its tag, else the teacher's label of its text
    emotion_of = {
        line: row["emotion_tag"].capitalize()
        if "emotion_tag" in row
        else _teacher_label(layout, f"{url}#L{line}")
        for line, row in enumerate(written, start=1)
    }
    asked_expected = 0
    for emotion, quota in QUOTAS.items():
        pairs = pl.read_parquet(layout.table("therapy_pairs", emotion))
        imported = pairs.filter(pl.col("backend") == "imported")
        expected = [(line, written[line - 1]) for line, e in emotion_of.items() if e == emotion]
        assert imported.height == len(expected) == TAGGED_PER_EMOTION + UNTAGGED // 2
        # answers intact, traced to their file and line
        by_url = dict(zip(imported["url"], imported["output"]))
        for line, row in expected:
            answer = row["output"] if "output" in row else row["messages"][2]["content"]
            assert by_url[f"{url}#L{line}"] == answer
        assert set(imported["model"]) == {str(files["pairs"])}
        assert set(imported["source"]) == {"pairs"}
        generated = pairs.filter(pl.col("backend") == "gemini")
        # imported pairs count against the quota before anything is generated
        remainder = max(quota - len(expected), 0)
        asked_expected += remainder
        assert generated.height == remainder
        meta = results[emotion]["metadata"]["therapy_pairs"]
        counts = read_block(meta["counts"])
        assert counts["imported_pairs"] == len(expected)
        assert counts["generation_quota"] == remainder
        # generated from the labelled source's sentences, never from an instruction record
        assert set(generated["source"]) <= {"labelled"}
        assert not set(imported["input"]) & set(asked)
    # only Sadness's remainder (130 less its imported pairs) reached the therapist
    assert asked_expected == 130 - TAGGED_PER_EMOTION - UNTAGGED // 2
    assert len(asked) == asked_expected and requests == math.ceil(asked_expected / PAIR_BATCH)


def test_tokenized_masks_cover_exactly_the_imported_answers(pairs_built, env):
    from darija_assets.training.dataset import load_dataset, load_tokenizer
    from darija_assets.training.presets import PRESETS
    from darija_assets.training.tiny import base_model_location

    result = _materialize("tokenized_dataset", "tiny")
    assert result["checks"] == {"answer_only_loss": True}
    layout = Layout(env)
    pairs = pl.concat(
        [pl.read_parquet(layout.table("therapy_pairs", e)) for e in QUOTAS], how="diagonal"
    )
    answers = dict(zip(pairs["pair_id"], pairs["output"]))
    dataset = load_dataset(layout.artifact("tokenized_dataset", "tiny"))
    tiny = PRESETS["tiny"]
    tokenizer = load_tokenizer(tiny, base_model_location(layout, tiny))

    seen: dict[str, set[str]] = {}
    checked = 0
    for split in ("train", "validation", "test"):
        rows = dataset[split]
        seen[split] = set(rows["group_id"])
        for example in rows:
            if example["backend"] != "imported":
                continue
            trained = [
                t
                for t, label in zip(example["input_ids"], example["labels"])
                if label != IGNORE_INDEX
            ]
            assert tokenizer.decode(trained) == answers[example["group_id"]] + "<end_of_turn>"
            checked += 1
    assert checked == 2 * TAGGED_PER_EMOTION + UNTAGGED
    # the three splits are disjoint and together hold every pair
    assert not seen["train"] & seen["validation"]
    assert not seen["train"] & seen["test"]
    assert not seen["validation"] & seen["test"]
    assert seen["train"] | seen["validation"] | seen["test"] == set(pairs["pair_id"])


def test_parallel_csv_becomes_imported_translations(files, labelled, pairs_built, env):
    # Joy has no therapy pairs here: its partition still takes the parallel text as it is.
    quota = {"ops": {"therapy_pairs": {"config": {"quotas": {"Joy": 0}}}}}
    _materialize("therapy_pairs", "Joy", quota, llm={"backend": "offline"})
    result = _materialize("translations", "Joy", translator={"backend": "auto"})
    layout = Layout(env)
    rows = pl.read_parquet(layout.table("translations", "Joy"))
    assert rows.height == 6
    assert set(rows["backend"]) == {"imported"}
    parallel = files["folder"] / "parallel.csv"
    assert rows["url"].to_list() == [f"{parallel.as_uri()}#L{n}" for n in range(2, 8)]
    assert rows["input_en"].to_list() == [f"I am happy, time {i}." for i in range(6)]
    assert rows["darija"].to_list() == [f"{_text('Joy', i)}, صافي" for i in range(6)]
    meta = result["metadata"]["translations"]
    assert meta["status"] == "skipped" and meta["imported_parallel"] == 6
    # the row without English is quarantined at import with its line
    quarantine = pl.read_parquet(layout.quarantine("raw_corpus", "parallel_csv"))
    assert quarantine["reason"].to_list() == ["line 8: no text under ['english']"]
