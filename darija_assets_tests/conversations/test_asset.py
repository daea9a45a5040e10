"""conversations[source] and tokenized_dataset[tiny] materialized for real (issue 13's
done-when): a made-up WhatsApp export and session file become turns and examples, and the
tokenized dataset mixes them with therapy pairs and translations under a per-kind cap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from darija_assets.storage import Layout, write_parquet
from darija_assets.training.formatting import IGNORE_INDEX
from darija_assets_tests import REPO_ROOT
from darija_assets_tests.conversations.made_up import (
    ANSWERED_LINE,
    CAR_LINE,
    CHAT_LINES,
    OWN_LINE,
    graph_folder,
)

CHILD = REPO_ROOT / "darija_assets_tests" / "assets" / "materialize_child.py"
SESSION_CAP = 4


def _materialize(asset: str, partition: str, run_config=None) -> dict:
    """Materialize in a child process that loads $DARIJA_SOURCES as `dagster` does."""
    spec = {"assets": [asset], "partition": partition, "run_config": run_config}
    done = subprocess.run(
        [sys.executable, str(CHILD), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _body(line: int) -> str:
    return CHAT_LINES[line - 1].split(": ", 1)[1]


def _pair(pair_id: str, emotion: str, i: int) -> dict:
    return {
        "pair_id": pair_id,
        "instruction": "Act as a Moroccan psychologist and help this user.",
        "input": f"كنحس بالقلق بزاف قبل الامتحان رقم {i}",
        "output": f"القلق عادي، جرب تتنفس بشوية وتقسم المراجعة رقم {i}.",
        "emotion": emotion,
        "style": "question",
        "backend": "offline-templates",
        "model": "templates-v1",
        "sentence_id": f"s-{pair_id}",
        "url": f"http://127.0.0.1/story/{pair_id}",
        "source": "sample",
    }


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conversations")
    retrieval = {"target_speaker": "speaker_2", "context": "retrieval", "top_k": 1}
    home, data = graph_folder(folder, {**retrieval, "own_messages": 1}, exchanges=12)
    layout = Layout(data)
    for emotion in ("Fear", "Sadness"):
        rows = [_pair(f"{emotion}-{i}", emotion, i) for i in range(3)]
        write_parquet(pl.DataFrame(rows), layout.table("therapy_pairs", emotion))
    translations = [
        {
            "pair_id": "Fear-0",
            "input_en": "I am anxious.",
            "output_en": "Breathe.",
            "backend": "imported",
        }
    ]
    write_parquet(pl.DataFrame(translations), layout.table("translations", "Fear"))
    with pytest.MonkeyPatch.context() as patch:
        for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL"):
            patch.delenv(key, raising=False)
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("DARIJA_DATA_DIR", str(data))
        patch.setenv("DARIJA_SOURCES", str(folder / "sources.json"))
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            patch.setenv(key, "1")
        results = {
            source: _materialize("conversations", source)["metadata"]["conversations"]
            for source in ("wa", "sessions", "sample")
        }
        config = {"ops": {"tokenized_dataset": {"config": {"kind_caps": {"session": SESSION_CAP}}}}}
        results["tokenized"] = _materialize("tokenized_dataset", "tiny", config)
        yield layout, results


def test_conversations_metadata_and_tables(graph):
    layout, results = graph
    wa, sessions, sample = results["wa"], results["sessions"], results["sample"]
    assert (wa["conversations"], wa["turns"], wa["speakers"], wa["examples"]) == (1, 8, 3, 2)
    assert wa["quarantined_lines"] == 1  # the encryption notice
    assert wa["import_target_speaker"] == "speaker_2"
    assert wa["context_turns_max"] == 3
    # 12 numbered exchanges in windows of 3 (10) and Amina's 3 exchanges (1)
    assert (sessions["conversations"], sessions["examples"]) == (2, 11)
    assert sessions["quarantined_lines"] == 1  # the line that is not JSON
    assert "crawled site" in sample["skipped"] and sample["examples"] == 0
    # the chat source's retrieval (top_k 1) chose the earlier message about the car
    chat = pl.read_parquet(layout.table("conversation_examples", "wa"))
    context = [t["text"] for t in json.loads(chat["turns"][-1])[:-1]]
    assert context == [_body(CAR_LINE), _body(OWN_LINE), _body(ANSWERED_LINE)]
    turns = pl.read_parquet(layout.table("conversations", "sessions"))
    assert set(turns["role"]) == {"user", "assistant"}
    assert turns.filter(conversation_id="amina")["line"].unique().to_list() == [3]


def test_tokenized_dataset_mixes_kinds_under_their_caps(graph):
    _, results = graph
    meta = results["tokenized"]["metadata"]["tokenized_dataset"]
    assert results["tokenized"]["checks"] == {"answer_only_loss": True}
    assert meta["conversation_sources"] == "wa, sessions"
    stats = json.loads((Path(meta["path"]) / "stats.json").read_text(encoding="utf-8"))
    mixture = stats["mixture"]
    assert mixture["therapy"]["kept"] == 6
    assert mixture["translation"]["kept"] == 2
    assert mixture["chat"] == {"candidates": 2, "capped": 0, "kept": 2, "too_long_or_no_answer": 0}
    # sessions are capped by whole conversations: "amina" (1) fits, "long" (10) does not
    assert mixture["session"]["candidates"] == 11
    assert mixture["session"]["kept"] <= SESSION_CAP
    assert mixture["session"]["kept"] + mixture["session"]["capped"] == 11


def test_stored_multi_turn_example_trains_exactly_its_answers(graph):
    from transformers import AutoTokenizer

    layout, results = graph
    meta = results["tokenized"]["metadata"]["tokenized_dataset"]
    from darija_assets.training.dataset import load_dataset

    dataset = load_dataset(meta["path"])
    rows = [row for split in dataset.values() for row in split]
    tokenizer = AutoTokenizer.from_pretrained(str(layout.artifact("base_model", "tiny")))
    session = next(r for r in rows if r["kind"] == "session")
    examples = pl.read_parquet(layout.table("conversation_examples", "sessions"))
    turns = json.loads(examples.filter(example_id=session["example_id"])["turns"][0])
    answers = [t["text"] for t in turns if t["role"] == "assistant"]
    assert len(answers) == 3
    runs, current = [], []
    for token, label in zip(session["input_ids"], session["labels"] + [IGNORE_INDEX]):
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            assert label == token
            current.append(label)
    if current:
        runs.append(current)
    assert [tokenizer.decode(run) for run in runs] == [f"{a}<end_of_turn>" for a in answers]
    chat = next(r for r in rows if r["kind"] == "chat")
    assert chat["source"] == "wa" and chat["n_answer_tokens"] > 0
