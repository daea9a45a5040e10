"""Examples from turns: chat context (window, retrieval), session chunks and windows, the
answer-only mask of multi-turn examples, and the special-token format."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from darija_assets.conversations.examples import build_examples, to_messages
from darija_assets.conversations.special_tokens import (
    SYSTEM_TOKEN,
    add_special_tokens,
    tokenize_special,
)
from darija_assets.conversations.turns import read_turns
from darija_assets.sources import Source
from darija_assets.training.formatting import IGNORE_INDEX, tokenize_chat
from darija_assets_tests.conversations.made_up import (
    ANSWERED_LINE,
    CAR_LINE,
    CHAT_LINES,
    OWN_LINE,
    RECENT_OFF_TOPIC_LINES,
    SESSION_OPTIONS,
    write_chat,
    write_sessions,
)


def _body(line: int) -> str:
    return CHAT_LINES[line - 1].split(": ", 1)[1]


def _chat_examples(tmp_path, **options):
    source = Source(
        name="wa",
        kind="file",
        path=str(write_chat(tmp_path)),
        extra={"conversations": {"target_speaker": "speaker_2", **options}},
    )
    turns = read_turns(source)
    return build_examples(turns.frame, turns.options, turns.stats["style"])


def test_retrieval_picks_the_earlier_message_on_the_replys_topic(tmp_path):
    examples, _ = _chat_examples(tmp_path, context="retrieval", top_k=1, own_messages=1)
    reply = examples[-1]
    context = [t["text"] for t in reply["turns"] if not t["trained"]]
    # the car message (line 2), the target's own earlier message, the message answered
    assert context == [_body(CAR_LINE), _body(OWN_LINE), _body(ANSWERED_LINE)]
    assert not any(_body(line) in context for line in RECENT_OFF_TOPIC_LINES)
    assert reply["turns"][-1]["text"] == f"{_body(8)}\n{_body(9)}"  # one run, one reply
    assert [t["role"] for t in reply["turns"]] == ["user", "assistant", "user", "assistant"]
    assert [t["trained"] for t in reply["turns"]] == [False, False, False, True]


def test_window_takes_the_most_recent_turns(tmp_path):
    examples, dropped = _chat_examples(tmp_path, context="window", window=3)
    assert [e["example_id"].rsplit(":", 1)[1] for e in examples] == [
        "reply-000001",
        "reply-000006",
    ]
    context = [t["text"] for t in examples[-1]["turns"][:-1]]
    assert context == [_body(5), _body(6), _body(7)]
    assert examples[-1]["context_turns"] == 3
    assert dropped == Counter()


def test_several_users_are_marked_with_their_pseudonyms(tmp_path):
    examples, _ = _chat_examples(tmp_path, context="window", window=3, users="mark")
    messages, trainable = to_messages(examples[-1]["turns"], users="mark")
    assert messages[0] == {
        "role": "user",
        # lines 5 and 7 are Youssef's (speaker_3), line 6 Sara's (speaker_1)
        "content": f"speaker_3: {_body(5)}\nspeaker_1: {_body(6)}\nspeaker_3: {_body(7)}",
    }
    assert trainable == [True]


def _session_examples(tmp_path, exchanges: int, **options):
    source = Source(
        name="sessions",
        kind="file",
        path=str(write_sessions(tmp_path, exchanges)),
        extra={"fmt": "sessions", "conversations": {**SESSION_OPTIONS, **options}},
    )
    turns = read_turns(source)
    return build_examples(turns.frame, turns.options, turns.stats["style"])


def _exchange_numbers(example) -> list[int]:
    return [int(t["text"].split()[2]) for t in example["turns"] if t["role"] == "assistant"]


def test_long_session_is_chunked_with_overlap(tmp_path):
    # 12 exchanges, chunks of at most 5 sharing 40% (2 exchanges): [0,5) [3,8) [6,11) [9,12)
    examples, dropped = _session_examples(
        tmp_path, 12, max_exchanges=5, overlap=0.4, exchanges_per_example=5
    )
    long = [e for e in examples if e["group_id"] == "long"]
    chunks = [_exchange_numbers(e) for e in long]
    assert chunks == [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7], [6, 7, 8, 9, 10], [9, 10, 11]]
    for before, after in pairwise(chunks):
        assert before[-2:] == after[:2]  # the overlap: exactly 2 exchanges, in order
    assert [e["chunk"] for e in long] == [0, 1, 2, 3]
    # the instruction leads each example's first user turn; the text is the cleaned one
    # (hamza normalised: "سؤال" is written "سوال")
    assert long[1]["turns"][0]["text"].endswith('Patient says: "سوال رقم 3 على النعاس"')
    assert dropped == Counter()


def test_sliding_windows_filters_and_repeats(tmp_path):
    # the numbered exchanges have 5 words on each side, each of Amina's more than 3
    examples, dropped = _session_examples(tmp_path, 8, max_words=3)
    assert examples == []
    assert dropped["exchanges_too_long"] == 8 + 3
    # under 6 words: every numbered exchange, and Amina's third ("لا، حتى واحد")
    examples, dropped = _session_examples(tmp_path, 8, min_words=6)
    assert dropped["exchanges_too_short"] == 8 + 1
    assert [len(e["turns"]) for e in examples] == [4]  # Amina's 2 left: one window

    examples, _ = _session_examples(tmp_path, 1, train_on="last")
    amina = next(e for e in examples if e["group_id"] == "amina")
    assert [t["trained"] for t in amina["turns"]] == [False] * 5 + [True]
    assert amina["context_turns"] == 5

    examples, dropped = _session_examples(tmp_path, 8, max_exchanges=5, overlap=0.6)
    long = [_exchange_numbers(e) for e in examples if e["group_id"] == "long"]
    # windows of 3 in the chunks [0,5) [2,7) [4,8): [2,3,4] and [4,5,6] lie in an overlap
    # and are given once
    assert long == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [5, 6, 7]]
    assert [e["chunk"] for e in examples if e["group_id"] == "long"] == [0, 0, 0, 1, 1, 2]
    assert dropped["overlap_windows_repeated"] == 2


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from darija_assets.training.dataset import load_tokenizer
    from darija_assets.training.presets import PRESETS
    from darija_assets.training.tiny import build_tiny_base

    texts = [line.split(": ", 1)[-1] for line in CHAT_LINES] * 20
    base = build_tiny_base(tmp_path_factory.mktemp("tiny") / "base", texts)
    return load_tokenizer(PRESETS["tiny"], base), base


def _trained_runs(labels: list[int]) -> list[list[int]]:
    runs, current = [], []
    for label in labels + [IGNORE_INDEX]:
        if label != IGNORE_INDEX:
            current.append(label)
        elif current:
            runs.append(current)
            current = []
    return runs


def test_multi_turn_mask_covers_each_trained_answer_and_its_end_of_turn(tmp_path, tokenizer):
    tok, _ = tokenizer
    examples, _ = _session_examples(tmp_path, 3)
    window = next(e for e in examples if e["group_id"] == "long")
    messages, trainable = to_messages(window["turns"])
    assert trainable == [True, True, True]
    chat = tokenize_chat(tok, messages, trainable)
    runs = _trained_runs(chat.labels)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert [tok.decode(run) for run in runs] == [f"{a}<end_of_turn>" for a in answers]
    for position, (token, label) in enumerate(zip(chat.input_ids, chat.labels)):
        assert label in (IGNORE_INDEX, token), position

    # a chat reply: the target's own earlier message is context, never trained
    chat_examples, _ = _chat_examples(tmp_path, context="retrieval", top_k=1, own_messages=1)
    messages, trainable = to_messages(chat_examples[-1]["turns"])
    chat = tokenize_chat(tok, messages, trainable)
    runs = _trained_runs(chat.labels)
    assert [tok.decode(run) for run in runs] == [f"{messages[-1]['content']}<end_of_turn>"]
    user_turns = [m["content"] for m in messages if m["role"] == "user"]
    assert not any(_body(OWN_LINE) in tok.decode(run) for run in runs)
    assert all(u not in tok.decode(runs[0]) for u in user_turns)


def test_special_token_format_adds_tokens_resizes_and_masks_before_the_reply(tmp_path, tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    tok, base = tokenizer
    tok = tok.__class__.from_pretrained(str(base))  # a copy: the fixture's stays unchanged
    model = AutoModelForCausalLM.from_pretrained(str(base))
    before = model.get_input_embeddings().num_embeddings
    assert add_special_tokens(tok, model) == 9
    assert model.get_input_embeddings().num_embeddings == len(tok) == before + 9
    assert model.get_output_embeddings().weight.shape[0] == len(tok)

    examples, _ = _chat_examples(tmp_path, context="window", window=3)
    chat = tokenize_special(tok, examples[-1]["turns"])
    tokens = tok.convert_ids_to_tokens(chat.input_ids)
    assert chat.text.startswith(f"<USR_A> {_body(5)} <USR_B> {_body(6)} <USR_A> {_body(7)} <SYS>")
    sys_at = tokens.index(SYSTEM_TOKEN)
    assert all(label == IGNORE_INDEX for label in chat.labels[: sys_at + 1])
    assert chat.labels[sys_at + 1 :] == chat.input_ids[sys_at + 1 :]  # reply and EOS
    assert tok.decode(chat.input_ids[sys_at + 1 : -1]).strip() == f"{_body(8)}\n{_body(9)}"
    loss = model(input_ids=torch.tensor([chat.input_ids]), labels=torch.tensor([chat.labels])).loss
    assert torch.isfinite(loss)


def test_retrieval_keeps_all_own_messages_up_to_the_option():
    from darija_assets.conversations.examples import chat_examples
    from darija_assets.conversations.options import ConversationOptions

    said = [
        ("speaker_1", "user", "chkoun ghadi yji l match lyoum?"),
        ("speaker_2", "assistant", "ana 3ndi khdma"),
        ("speaker_1", "user", "ljaw zwin"),
        ("speaker_2", "assistant", "wakha"),
        ("speaker_1", "user", "chrit lkhobz"),
        ("speaker_2", "assistant", "mzyan"),
        ("speaker_1", "user", "fin nta?"),
        ("speaker_2", "assistant", "chkoun ghadi yji l match lyoum?"),
    ]
    turns = [{"speaker": s, "role": r, "text": t, "trained": False} for s, r, t in said]
    options = ConversationOptions(context="retrieval", top_k=1, own_messages=5)
    examples = chat_examples(turns, "c", "src", options, Counter())
    context = [t["text"] for t in examples[-1]["turns"][:-1]]
    # the same words as the reply (picked by similarity), all three own messages (fewer than
    # own_messages), the message answered; "ljaw zwin" and "chrit lkhobz" are left out
    assert context == [said[i][2] for i in (0, 1, 3, 5, 6)]
