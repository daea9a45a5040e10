"""Reading chat exports and session files into turns (conversations/turns.py, sessions.py)."""

from __future__ import annotations

import json

import pytest

from darija_assets.conversations.options import parse_options
from darija_assets.conversations.sessions import parse_sessions
from darija_assets.conversations.turns import NotConversations, read_turns
from darija_assets.sources import Source, load_registry
from darija_assets_tests.conversations.made_up import (
    SESSION_OPTIONS,
    write_chat,
    write_sessions,
)


def _source(path, **extra) -> Source:
    return Source(name="src", kind="file", path=str(path), extra=extra)


def test_whatsapp_export_becomes_one_conversation_of_pseudonymous_turns(tmp_path):
    path = write_chat(tmp_path)
    turns = read_turns(_source(path, conversations={"target_speaker": "speaker_2"}))
    frame = turns.frame
    assert frame["conversation_id"].unique().to_list() == ["src:WhatsApp Chat with speaker_1.txt"]
    assert frame["turn_index"].to_list() == list(range(8))
    # speaker_1 = Sara (first to write), speaker_2 = Karim, speaker_3 = Youssef
    assert frame["speaker"].to_list() == [
        "speaker_1", "speaker_2", "speaker_1", "speaker_3",
        "speaker_1", "speaker_3", "speaker_2", "speaker_2",
    ]  # fmt: skip
    assert frame.filter(role="assistant")["speaker"].unique().to_list() == ["speaker_2"]
    assert frame["line"].to_list() == list(range(2, 10))
    assert frame["timestamp"][0] == "2026-03-13T09:01:00"
    assert all(u.endswith(f"#L{n}") for u, n in zip(frame["url"], frame["line"]))
    # the encryption notice is quarantined with its reason, not a turn
    assert turns.quarantine["line"].to_list() == [1]
    everything = " ".join(frame["raw_text"].to_list() + frame["url"].to_list())
    assert "Sara" not in everything and "Karim" not in everything
    assert turns.stats["target_speaker"] == "speaker_2"


def test_chat_target_defaults_to_the_most_talkative_and_must_exist(tmp_path):
    path = write_chat(tmp_path)
    # Sara and Karim wrote three messages each: the first to write wins the tie
    assert read_turns(_source(path)).stats["target_speaker"] == "speaker_1"
    with pytest.raises(ValueError, match="speaker_9"):
        read_turns(_source(path, conversations={"target_speaker": "speaker_9"}))


def test_session_file_turns_roles_pseudonyms_and_quarantine(tmp_path):
    path = write_sessions(tmp_path, exchanges=2)
    turns = read_turns(_source(path, fmt="sessions", conversations=SESSION_OPTIONS))
    frame = turns.frame
    assert frame["conversation_id"].unique(maintain_order=True).to_list() == ["long", "amina"]
    amina = frame.filter(conversation_id="amina")
    assert amina["text"].to_list()[1].startswith("فهمتك")
    assert amina["role"].to_list() == ["user", "assistant"] * 3
    assert amina["line"].unique().to_list() == [3]
    # "client", "therapist", "patient", "Dr. Amina" in order of first appearance
    assert amina["speaker"].unique(maintain_order=True).to_list() == ["speaker_3", "speaker_4"]
    assert "Amina" not in " ".join(frame["raw_text"])
    assert turns.quarantine["line"].to_list() == [2]
    assert "invalid JSON" in turns.quarantine["reason"][0]


@pytest.mark.parametrize(
    "document",
    [
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        {"dialogue": [{"speaker": "client", "text": "a"}, {"speaker": "therapist", "text": "b"}]},
        [{"id": 7, "messages": [{"from": "user", "value": "a"}, {"from": "gpt", "value": "b"}]}],
    ],
    ids=["list-of-turns", "dialogue-object", "list-of-sessions"],
)
def test_json_layouts(document):
    lines = json.dumps(document, indent=2).splitlines()
    sessions, problems = parse_sessions(lines, jsonl=False, options=parse_options(None))
    assert problems == []
    assert len(sessions) == 1
    assert [(t.role, t.text) for t in sessions[0].turns] == [("user", "a"), ("assistant", "b")]


def test_list_of_sessions_keeps_each_sessions_line_and_reports_bad_turns():
    document = [
        {"dialogue": [{"speaker": "client", "text": "a"}]},
        {"dialogue": [{"speaker": "client"}, "oops", {"speaker": "therapist", "text": "b"}]},
        {"title": "no turns"},
    ]
    lines = json.dumps(document, indent=1).splitlines()
    sessions, problems = parse_sessions(lines, jsonl=False, options=parse_options(None))
    assert [s.line for s in sessions] == [2, 10]
    assert lines[9].strip() == "{"
    reasons = [reason for _, reason in problems]
    assert reasons[0].startswith("turn 0: no text")
    assert reasons[1] == "turn 1: a JSON str, not an object"
    assert "without a list of turns" in reasons[2]


def test_crawled_and_plain_text_sources_hold_no_conversations(tmp_path):
    with pytest.raises(NotConversations, match="crawled site"):
        read_turns(Source(name="sample", kind="sample"))
    plain = tmp_path / "posts.jsonl"
    plain.write_text('{"text": "سلام"}\n', encoding="utf-8")
    with pytest.raises(NotConversations, match="jsonl file"):
        read_turns(_source(plain))


def test_sources_file_rejects_bad_conversation_options(tmp_path):
    write_chat(tmp_path)
    entries = [
        {"name": "ok", "kind": "file", "path": "WhatsApp Chat with Sara Benali.txt",
         "conversations": {"context": "retrieval", "top_k": 3}},
        {"name": "typo", "kind": "file", "path": "x.txt", "conversations": {"top_kk": 3}},
        {"name": "wrong", "kind": "file", "path": "x.txt", "conversations": {"context": "llm"}},
        {"name": "neg", "kind": "file", "path": "x.txt", "conversations": {"overlap": 1.5}},
    ]  # fmt: skip
    (tmp_path / "sources.json").write_text(json.dumps(entries), encoding="utf-8")
    registry = load_registry({"DARIJA_SOURCES": str(tmp_path / "sources.json")})
    assert registry.sources["ok"].extra["conversations"]["top_k"] == 3
    reasons = {r.name: r.reason for r in registry.rejected}
    assert "unknown options ['top_kk']" in reasons["typo"]
    assert "'context' must be one of" in reasons["wrong"]
    assert "'overlap' must be in [0, 1)" in reasons["neg"]


def test_json_session_file_is_detected_and_imported_as_raw_corpus_rows(tmp_path):
    from darija_assets.text.importers import import_file

    path = tmp_path / "session.json"
    turns = [
        {"role": "user", "content": "سلام، بغيت نهضر"},
        {"role": "assistant", "content": "تفضل"},
    ]
    path.write_text(json.dumps({"id": "s9", "dialogue": turns}, ensure_ascii=False), "utf-8")
    result = import_file(path, "therapy")
    assert result.stats["format"] == "sessions"
    frame = result.frame
    assert frame["story"].to_list() == ["s9", "s9"]
    assert frame["chapter_index"].to_list() == [0, 1]
    assert frame["speaker"].to_list() == ["speaker_1", "speaker_2"]
    assert frame["category"].to_list() == ["session", "session"]
    assert frame["url"].to_list() == [f"{path.as_uri()}#L1"] * 2
