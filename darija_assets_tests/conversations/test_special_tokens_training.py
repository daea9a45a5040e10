"""The special-token format through the graph (issue 13): tokenized_dataset[tiny] with
``conversation_format: special_tokens`` saves a tokenizer with ``<USR_A> ... <SYS>`` added,
lora_adapter[tiny] grows the base's embeddings and trains the new rows for a few steps, and
the chat/eval loader puts the adapter back on the unchanged base with those rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from darija_assets.conversations.special_tokens import SPECIAL_TOKENS, SYSTEM_TOKEN
from darija_assets.storage import Layout, write_parquet
from darija_assets.training.formatting import IGNORE_INDEX
from darija_assets_tests.conversations.made_up import graph_folder
from darija_assets_tests.conversations.test_asset import _materialize, _pair

pytestmark = pytest.mark.slow
STEPS = 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("special_tokens")
    window = {"target_speaker": "speaker_2", "context": "window", "window": 3}
    home, data = graph_folder(folder, window, exchanges=4)
    layout = Layout(data)
    rows = [_pair(f"Fear-{i}", "Fear", i) for i in range(2)]
    write_parquet(pl.DataFrame(rows), layout.table("therapy_pairs", "Fear"))
    with pytest.MonkeyPatch.context() as patch:
        for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL"):
            patch.delenv(key, raising=False)
        patch.setenv("DAGSTER_HOME", str(home))
        patch.setenv("DARIJA_DATA_DIR", str(data))
        patch.setenv("DARIJA_SOURCES", str(folder / "sources.json"))
        for source in ("wa", "sessions"):
            _materialize("conversations", source)
        tokenize = {"conversation_format": "special_tokens", "test_fraction": 0}
        tokenized = _materialize(
            "tokenized_dataset", "tiny", {"ops": {"tokenized_dataset": {"config": tokenize}}}
        )
        train = {"max_steps": STEPS, "eval_max_examples": 2}
        adapter = _materialize("lora_adapter", "tiny", {"ops": {"lora_adapter": {"config": train}}})
        yield (
            layout,
            tokenized["metadata"]["tokenized_dataset"],
            adapter["metadata"]["lora_adapter"],
        )


def test_dataset_saves_the_extended_tokenizer_and_records_it(trained):
    from transformers import AutoTokenizer

    layout, tokenized, _ = trained
    base = AutoTokenizer.from_pretrained(str(layout.artifact("base_model", "tiny")))
    saved = AutoTokenizer.from_pretrained(str(Path(tokenized["path"]) / "tokenizer"))
    stats = json.loads((Path(tokenized["path"]) / "stats.json").read_text(encoding="utf-8"))
    ids = saved.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    # every added token got an id past the base vocabulary, one each
    assert sorted(ids) == list(range(len(base), len(base) + len(SPECIAL_TOKENS)))
    assert stats["conversation_format"] == "special_tokens"
    assert stats["tokenizer"] == {
        "dir": "tokenizer",
        "size": len(base) + len(SPECIAL_TOKENS),
        "added_tokens": dict(zip(SPECIAL_TOKENS, ids)),
    }
    assert tokenized["added_tokens"] == ", ".join(SPECIAL_TOKENS)


def _segments(input_ids: list[int], markers: set[int]) -> list[tuple[int, list[int]]]:
    """(marker id, the text ids after it) per turn of a special-token example."""
    segments: list[tuple[int, list[int]]] = []
    for token in input_ids:
        if token in markers:
            segments.append((token, []))
        elif segments:
            segments[-1][1].append(token)
    return segments


def test_labels_are_exactly_each_trained_reply_and_its_closing_token(trained):
    from transformers import AutoTokenizer

    from darija_assets.training.dataset import load_dataset

    layout, tokenized, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(str(Path(tokenized["path"]) / "tokenizer"))
    markers = set(tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS)))
    system = tokenizer.convert_tokens_to_ids(SYSTEM_TOKEN)
    rows = [row for split in load_dataset(tokenized["path"]).values() for row in split]
    kinds = {row["kind"] for row in rows}
    assert {"chat", "session"} <= kinds
    checked = 0
    for row in rows:
        if row["kind"] not in ("chat", "session"):
            continue
        source = "wa" if row["kind"] == "chat" else "sessions"
        examples = pl.read_parquet(layout.table("conversation_examples", source))
        turns = json.loads(examples.filter(example_id=row["example_id"])["turns"][0])
        ids = row["input_ids"]
        assert ids[-1] == tokenizer.eos_token_id
        segments = _segments(ids[:-1], markers)
        assert len(segments) == len(turns)
        # expected labels built from the turns: a trained reply's text after <SYS>, then the
        # next turn's marker (or EOS after the last turn); everything else is masked
        expected = [IGNORE_INDEX] * (len(ids) - 1 - sum(1 + len(t) for _, t in segments))
        close = False
        for (marker, text), turn in zip(segments, turns):
            assert (marker == system) == (turn["role"] == "assistant")
            assert tokenizer.decode(text).strip() == turn["text"].strip()
            expected.append(marker if close else IGNORE_INDEX)
            close = turn["role"] == "assistant" and turn["trained"]
            expected += text if close else [IGNORE_INDEX] * len(text)
        expected.append(tokenizer.eos_token_id if close else IGNORE_INDEX)
        assert row["labels"] == expected
        assert any(turn["trained"] for turn in turns)
        checked += 1
    assert checked >= 3


def test_adapter_trains_the_added_rows_and_loads_on_its_base(trained):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from darija_assets.training.chat import load

    layout, _, adapter_meta = trained
    base_dir = layout.artifact("base_model", "tiny")
    adapter_dir = Path(adapter_meta["path"])
    assert adapter_meta["global_step"] == STEPS
    assert adapter_meta["added_tokens"] == ", ".join(SPECIAL_TOKENS)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir))
    base_rows = base.get_input_embeddings().num_embeddings

    model, tokenizer = load(base_dir, adapter_dir)
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    assert min(ids) >= base_rows  # beyond the base vocabulary
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)

    saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
    deltas = [key for key in saved if "trainable_tokens_delta" in key]
    assert len(deltas) == 1, sorted(saved)  # the head is tied: one set of rows
    trained_rows = saved[deltas[0]]
    assert trained_rows.shape == (len(SPECIAL_TOKENS), base.config.hidden_size)
    # the loaded model uses the saved rows for the added tokens (the head is tied to them)
    # and the base's own rows for the rest
    merged = model.merge_and_unload()
    weight = merged.get_input_embeddings().weight.detach()
    assert torch.equal(weight[ids], trained_rows)
    assert torch.equal(weight[:base_rows], base.get_input_embeddings().weight.detach())
    assert merged.get_output_embeddings().weight.data_ptr() == weight.data_ptr()
