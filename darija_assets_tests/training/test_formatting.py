"""The chat format and the completion-only mask, checked token by token.

The loss must fall on the therapist's answer and its end-of-turn token and on
nothing else, for Gemma's template and for ChatML alike; multi-turn conversations
must be chunked between exchanges, each answer trained once.
"""

from __future__ import annotations

from typing import Any

import pytest

from darija_assets.training import formatting
from darija_assets.training.formatting import IGNORE_INDEX, Chunk, chunk_exchanges

from .conftest import ANSWER, PATIENT_TEXT

INSTRUCTION = formatting.DEFAULT_INSTRUCTION


def trained_text(tokenizer: Any, chat: formatting.TokenizedChat) -> str:
    return tokenizer.decode(
        [t for t, label in zip(chat.input_ids, chat.labels) if label != IGNORE_INDEX]
    )


def trained_positions(chat: formatting.TokenizedChat) -> list[int]:
    return [i for i, label in enumerate(chat.labels) if label != IGNORE_INDEX]


def test_gemma_turns_decode_to_the_original_format(tiny_tokenizer: Any) -> None:
    chat = formatting.tokenize_chat(
        tiny_tokenizer, formatting.therapy_messages(INSTRUCTION, PATIENT_TEXT, ANSWER)
    )

    assert tiny_tokenizer.decode(chat.input_ids) == (
        "<bos><start_of_turn>user\n"
        "Act as a Moroccan psychologist and help this user.\n"
        f'Patient says: "{PATIENT_TEXT}"<end_of_turn>\n'
        "<start_of_turn>model\n"
        f"{ANSWER}<end_of_turn>\n"
    )


def test_gemma_labels_cover_exactly_the_answer_and_end_of_turn(tiny_tokenizer: Any) -> None:
    chat = formatting.tokenize_chat(
        tiny_tokenizer, formatting.therapy_messages(INSTRUCTION, PATIENT_TEXT, ANSWER)
    )

    assert trained_text(tiny_tokenizer, chat) == ANSWER + "<end_of_turn>"
    positions = trained_positions(chat)
    assert positions == list(range(positions[0], positions[-1] + 1)), "one contiguous answer span"
    assert all(chat.labels[i] == chat.input_ids[i] for i in positions)
    # the last token (the template's newline after the turn) is formatting, not answer
    assert positions[-1] == len(chat.input_ids) - 2
    # and the mask agrees with the one the template's {% generation %} markers give
    marked = tiny_tokenizer.apply_chat_template(
        formatting.therapy_messages(INSTRUCTION, PATIENT_TEXT, ANSWER),
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    assert marked["input_ids"] == chat.input_ids
    assert list(marked["assistant_masks"]) == [int(label != IGNORE_INDEX) for label in chat.labels]


def test_chatml_template_gets_the_same_treatment(chatml_tokenizer: Any) -> None:
    chat = formatting.tokenize_chat(
        chatml_tokenizer, formatting.therapy_messages(INSTRUCTION, PATIENT_TEXT, ANSWER)
    )

    assert chatml_tokenizer.decode(chat.input_ids) == (
        "<|im_start|>user\n"
        "Act as a Moroccan psychologist and help this user.\n"
        f'Patient says: "{PATIENT_TEXT}"<|im_end|>\n'
        "<|im_start|>assistant\n"
        f"{ANSWER}<|im_end|>\n"
    )
    assert trained_text(chatml_tokenizer, chat) == ANSWER + "<|im_end|>"
    assert formatting.end_of_turn_token(chatml_tokenizer) == "<|im_end|>"


def test_chatml_with_a_system_turn_masks_the_system_turn_too(chatml_tokenizer: Any) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."}
    ] + formatting.therapy_messages(INSTRUCTION, PATIENT_TEXT, ANSWER)
    chat = formatting.tokenize_chat(chatml_tokenizer, messages)

    assert chatml_tokenizer.decode(chat.input_ids).startswith(
        "<|im_start|>system\nYou are a helpful assistant."
    )
    assert trained_text(chatml_tokenizer, chat) == ANSWER + "<|im_end|>"


def test_translation_example_asks_for_english(tiny_tokenizer: Any) -> None:
    chat = formatting.tokenize_chat(
        tiny_tokenizer, formatting.translation_messages(PATIENT_TEXT, "I feel alone.")
    )

    assert tiny_tokenizer.decode(chat.input_ids) == (
        "<bos><start_of_turn>user\n"
        f"{formatting.TRANSLATION_INSTRUCTION}\n{PATIENT_TEXT}<end_of_turn>\n"
        "<start_of_turn>model\n"
        "I feel alone.<end_of_turn>\n"
    )
    assert trained_text(tiny_tokenizer, chat) == "I feel alone.<end_of_turn>"


def test_gemma_template_refuses_a_system_turn(tiny_tokenizer: Any) -> None:
    with pytest.raises(Exception, match="only user and assistant turns"):
        formatting.render(tiny_tokenizer, [{"role": "system", "content": "x"}])


def test_chunks_overlap_and_train_each_exchange_once() -> None:
    assert chunk_exchanges(10, max_exchanges=4, overlap=0.25) == [
        Chunk(start=0, end=4, first_trained=0),
        Chunk(start=3, end=7, first_trained=4),
        Chunk(start=6, end=10, first_trained=7),
    ]
    # the default: 300 exchanges a chunk, 20% (60 exchanges) shared with the previous chunk
    assert chunk_exchanges(700) == [Chunk(0, 300, 0), Chunk(240, 540, 300), Chunk(480, 700, 540)]
    assert chunk_exchanges(300) == [Chunk(0, 300, 0)]
    assert chunk_exchanges(0) == []


def test_exchanges_join_consecutive_turns_and_count_dangling_ones() -> None:
    turns = [
        {"role": "assistant", "content": "Welcome."},  # before any user turn: dangling
        {"role": "user", "content": "salam"},
        {"role": "user", "content": "labas?"},
        {"role": "assistant", "content": "labas, hamdoullah"},
        {"role": "user", "content": "  "},  # empty: not a turn
        {"role": "user", "content": "bye"},  # never answered: dangling
    ]
    exchanges, dangling = formatting.exchanges_from_turns(turns)

    assert exchanges == [("salam\nlabas?", "labas, hamdoullah")]
    assert dangling == 2


def test_conversation_chunk_trains_only_its_new_answers(tiny_tokenizer: Any) -> None:
    exchanges = [(f"question {i}", f"answer {i}") for i in range(5)]
    messages, trainable = formatting.conversation_messages(
        exchanges, Chunk(start=2, end=5, first_trained=3), "Help."
    )
    chat = formatting.tokenize_chat(tiny_tokenizer, messages, trainable)

    text = tiny_tokenizer.decode(chat.input_ids)
    assert text.startswith(
        '<bos><start_of_turn>user\nHelp.\nPatient says: "question 2"<end_of_turn>\n'
    )
    assert text.endswith("<start_of_turn>model\nanswer 4<end_of_turn>\n")
    assert trained_text(tiny_tokenizer, chat) == "answer 3<end_of_turn>answer 4<end_of_turn>"
