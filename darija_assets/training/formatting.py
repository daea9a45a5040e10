"""Chat formatting and completion-only masking, for any chat template.

The turn format is the original project's: the user turn carries the
instruction, a newline and ``Patient says: "<sentence>"``; the model turn
carries the therapist's answer. The tokenizer's own chat template decides how
turns are written (Gemma's ``<start_of_turn>``, ChatML's ``<|im_start|>``...),
so nothing here knows a template by name.

Masking works from what the template renders rather than from markers in it: for
every assistant turn, the conversation up to that turn is rendered with the
generation prompt (the text the model sees before it answers) and again with the
turn included. The characters in between, minus the template's trailing
whitespace, are the answer and its end-of-turn token; tokens lying wholly inside
those spans keep their label, every other token gets -100. This works for
templates with or without ``{% generation %}`` markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: the instruction the original project trained with, and therapy_pairs' default
DEFAULT_INSTRUCTION = "Act as a Moroccan psychologist and help this user."
PATIENT_PREFIX = "Patient says: "
TRANSLATION_INSTRUCTION = (
    "Translate this Moroccan Darija text to English. Answer with the translation only."
)

IGNORE_INDEX = -100

Message = dict[str, str]


class TemplateError(ValueError):
    """The chat template renders a prefix of the conversation inconsistently."""


def patient_turn(instruction: str, patient_text: str) -> str:
    """The user turn of the original format: the instruction, then what the patient said."""
    return f'{instruction.strip()}\n{PATIENT_PREFIX}"{patient_text.strip()}"'


def therapy_messages(instruction: str, patient_text: str, answer: str) -> list[Message]:
    return [
        {"role": "user", "content": patient_turn(instruction, patient_text)},
        {"role": "assistant", "content": answer.strip()},
    ]


def translation_messages(darija_text: str, english_text: str) -> list[Message]:
    return [
        {"role": "user", "content": f"{TRANSLATION_INSTRUCTION}\n{darija_text.strip()}"},
        {"role": "assistant", "content": english_text.strip()},
    ]


def render(
    tokenizer: Any, messages: Sequence[Message], *, add_generation_prompt: bool = False
) -> str:
    return tokenizer.apply_chat_template(
        list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )


@dataclass(frozen=True)
class TokenizedChat:
    input_ids: list[int]
    #: -100 everywhere except on the trained answers' tokens
    labels: list[int]
    text: str

    @property
    def answer_token_count(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def answer_spans(
    tokenizer: Any, messages: Sequence[Message], trainable: Sequence[bool] | None = None
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of the answers to train on.

    ``trainable`` has one flag per assistant turn (default: all); an untrained
    assistant turn is context only, e.g. the overlap a chunk shares with the one
    before it.
    """
    full_text = render(tokenizer, messages)
    assistant_turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if trainable is None:
        trainable = [True] * len(assistant_turns)
    if len(trainable) != len(assistant_turns):
        raise ValueError(
            f"{len(trainable)} trainable flags for {len(assistant_turns)} assistant turns"
        )
    spans = []
    for turn_index, train_it in zip(assistant_turns, trainable):
        if not train_it:
            continue
        before = render(tokenizer, messages[:turn_index], add_generation_prompt=True)
        through = render(tokenizer, messages[: turn_index + 1]).rstrip()
        if not (through.startswith(before) and full_text.startswith(through)):
            raise TemplateError(
                "the chat template does not render a conversation's prefix as a prefix of the whole "
                f"conversation (assistant turn {turn_index}); completion-only masking needs that"
            )
        spans.append((len(before), len(through)))
    return full_text, spans


def tokenize_chat(
    tokenizer: Any, messages: Sequence[Message], trainable: Sequence[bool] | None = None
) -> TokenizedChat:
    """Token ids of the rendered chat, with labels on the trainable answers only."""
    text, spans = answer_spans(tokenizer, messages, trainable)
    # The template writes the BOS token itself (Gemma); adding special tokens would double it.
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoding["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    for position, (start, end) in enumerate(encoding["offset_mapping"]):
        # A token straddling a span edge (a merge across the boundary) stays masked.
        if end > start and any(s <= start and end <= e for s, e in spans):
            labels[position] = input_ids[position]
    return TokenizedChat(input_ids=input_ids, labels=labels, text=text)


def end_of_turn_token(tokenizer: Any) -> str:
    """The token the template closes an assistant turn with (``<end_of_turn>``, ``<|im_end|>``)."""
    marker = "\u2063answer\u2063"
    rendered = render(
        tokenizer, [{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}]
    )
    after = rendered[rendered.index(marker) + len(marker) :]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"]
    if not ids:
        raise TemplateError(
            "the chat template closes an assistant turn with nothing; generation cannot stop"
        )
    return tokenizer.convert_ids_to_tokens(ids[0])


@dataclass(frozen=True)
class Chunk:
    """A window of exchanges ``[start, end)`` of one conversation."""

    start: int
    end: int
    #: exchanges before this index are overlap: context, already trained in the previous chunk
    first_trained: int


def chunk_exchanges(
    n_exchanges: int, max_exchanges: int = 300, overlap: float = 0.2
) -> list[Chunk]:
    """Windows of at most ``max_exchanges`` exchanges, consecutive windows sharing ``overlap`` of them.

    Windows cut only between exchanges, so no turn is ever split. Each exchange is
    trained exactly once: the overlap repeats earlier exchanges as context only.
    """
    if max_exchanges < 1:
        raise ValueError("max_exchanges must be at least 1")
    if not 0 <= overlap < 1:
        raise ValueError("overlap must be in [0, 1)")
    step = max(1, max_exchanges - round(max_exchanges * overlap))
    chunks: list[Chunk] = []
    start = 0
    while start < n_exchanges:
        end = min(start + max_exchanges, n_exchanges)
        first_trained = chunks[-1].end if chunks else start
        chunks.append(Chunk(start=start, end=end, first_trained=first_trained))
        if end == n_exchanges:
            break
        start += step
    return chunks


def exchanges_from_turns(turns: Sequence[Message]) -> tuple[list[tuple[str, str]], int]:
    """Pair a conversation's turns into (user, assistant) exchanges.

    Consecutive turns of one role are joined (several messages sent in a row are
    one turn). Returns the exchanges and the number of dangling turns that could
    not form one: an assistant turn before any user turn, or a last user turn with
    no answer.
    """
    merged: list[list[str]] = []  # [role, text]
    for turn in turns:
        role, content = turn["role"], (turn.get("content") or "").strip()
        if role not in ("user", "assistant"):
            raise ValueError(f"conversation turn with unknown role {role!r}")
        if not content:
            continue
        if merged and merged[-1][0] == role:
            merged[-1][1] += "\n" + content
        else:
            merged.append([role, content])
    dangling = 0
    if merged and merged[0][0] == "assistant":
        merged.pop(0)
        dangling += 1
    if merged and merged[-1][0] == "user":
        merged.pop()
        dangling += 1
    exchanges = [(merged[i][1], merged[i + 1][1]) for i in range(0, len(merged), 2)]
    return exchanges, dangling


def conversation_messages(
    exchanges: Sequence[tuple[str, str]], chunk: Chunk, instruction: str
) -> tuple[list[Message], list[bool]]:
    """The messages of one chunk, instruction in its first user turn, and which answers to train."""
    messages: list[Message] = []
    trainable: list[bool] = []
    for index in range(chunk.start, chunk.end):
        user_text, answer = exchanges[index]
        content = patient_turn(instruction, user_text) if index == chunk.start else user_text
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": answer})
        trainable.append(index >= chunk.first_trained)
    return messages, trainable
