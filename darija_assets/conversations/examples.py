"""Training examples from conversation turns: chat replies and session windows.

An example is a mapping (``EXAMPLE_SCHEMA``): example_id, group_id (the conversation: the
splits keep a conversation on one side), source, style, ``turns`` (a list of ``{role,
speaker, text, trained}``; only assistant turns may be trained), context_turns (turns
before the first trained one), and chunk (sessions). ``to_messages`` folds the turns into
the user/assistant messages of a chat template; ``special_tokens`` writes them in
the WhatsApp project's ``<USR_A> ... <SYS> reply`` format instead.

* Chat (seed 002): each run of consecutive messages of the target speaker is one reply and
  one example. Its context is the ``window`` turns before it, or with ``context=retrieval``
  the message it answers (the last run of other speakers' messages), the target's own
  ``own_messages`` latest earlier messages, and the ``top_k`` of the ``candidates`` earlier
  messages whose embeddings are most similar (cosine) to the reply's. Only the reply is
  trained; the target's earlier messages are context.
* Sessions (seed 004): the session's turns become exchanges (a user turn and the
  counsellor's answer; consecutive turns of one role joined), exchanges outside
  ``min_words``..``max_words`` are dropped, a session of more than ``max_exchanges``
  exchanges is split into chunks sharing ``overlap`` of them (``formatting.chunk_exchanges``),
  then each chunk gives sliding windows of ``exchanges_per_example`` exchanges (a shorter
  chunk one window, if it has ``min_exchanges_per_example``); a window a previous chunk
  already gave (the overlap) is not repeated. The instruction leads the first user turn
  (``formatting.patient_turn``); every counsellor turn of a window is trained
  (``train_on="all"``) or the last one only.

Every turn or example that does not make it is counted by its reason in ``Dropped``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from darija_assets.conversations.options import (
    MARK,
    RETRIEVAL,
    TRAIN_ALL,
    ConversationOptions,
)
from darija_assets.training import formatting

Turn = dict[str, Any]
#: texts -> unit-length embeddings (numpy array, one row per text); see embed.embed
Embedder = Callable[[Sequence[str]], Any]


def _turn(role: str, speaker: str | None, text: str, trained: bool = False) -> Turn:
    return {"role": role, "speaker": speaker, "text": text, "trained": trained}


def to_messages(turns: Sequence[Turn], users: str = "fold") -> tuple[list[dict], list[bool]]:
    """Chat-template messages of an example and one trained flag per assistant message.

    Consecutive turns of one role are one message (joined by newlines); with
    ``users="mark"`` each user line is led by its speaker (``speaker_2: ...``) so several
    users stay apart. ValueError when consecutive assistant turns differ in training.
    """
    messages: list[dict] = []
    trainable: list[bool] = []
    for turn in turns:
        text = turn["text"]
        if turn["role"] == "user" and users == MARK and turn["speaker"]:
            text = f"{turn['speaker']}: {text}"
        if messages and messages[-1]["role"] == turn["role"]:
            messages[-1]["content"] += "\n" + text
            if turn["role"] == "assistant" and trainable[-1] != turn["trained"]:
                raise ValueError("consecutive assistant turns with different training flags")
            continue
        messages.append({"role": turn["role"], "content": text})
        if turn["role"] == "assistant":
            trainable.append(bool(turn["trained"]))
    return messages, trainable


def _runs(turns: Sequence[Turn]) -> list[list[int]]:
    """Indices of the maximal runs of consecutive turns by one speaker."""
    runs: list[list[int]] = []
    for index, turn in enumerate(turns):
        if runs and turns[runs[-1][0]]["speaker"] == turn["speaker"]:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def chat_examples(
    turns: Sequence[Turn],
    conversation_id: str,
    source: str,
    options: ConversationOptions,
    dropped: Counter,
    embedder: Embedder | None = None,
) -> list[dict[str, Any]]:
    """Examples of one chat (``turns`` in order, ``role`` assistant for the target speaker).

    ``embedder`` is needed for ``context="retrieval"`` (default: the bundled MiniLM).
    """
    kept = [t for t in turns if t["text"].strip()]
    dropped["turns_empty_after_cleaning"] += len(turns) - len(kept)
    runs = _runs(kept)
    vectors = None
    if options.context == RETRIEVAL and kept:
        if embedder is None:
            from darija_assets.conversations.embed import embed as embedder
        vectors = embedder([t["text"] for t in kept])
    examples = []
    for number, run in enumerate(runs):
        if kept[run[0]]["role"] != "assistant":
            continue
        first = run[0]
        if vectors is None:
            chosen = list(range(max(0, first - options.window), first))
        else:
            chosen = _retrieve(kept, run, runs[number - 1] if number else [], vectors, options)
        while chosen and kept[chosen[0]]["role"] == "assistant":
            chosen.pop(0)  # a chat template opens with a user turn
            dropped["leading_own_messages_left_out"] += 1
        if not chosen:
            dropped["replies_without_context"] += 1
            continue
        reply = "\n".join(kept[i]["text"] for i in run)
        example_turns = [
            _turn(kept[i]["role"], kept[i]["speaker"], kept[i]["text"]) for i in chosen
        ]
        example_turns.append(_turn("assistant", kept[first]["speaker"], reply, trained=True))
        examples.append(
            {
                "example_id": f"{conversation_id}:reply-{first:06d}",
                "group_id": conversation_id,
                "source": source,
                "style": "chat",
                "turns": example_turns,
                "context_turns": _context_turns(example_turns),
                "chunk": None,
            }
        )
    return examples


def _retrieve(
    kept: Sequence[Turn], run: list[int], answered: list[int], vectors: Any, options
) -> list[int]:
    """Context indices of a reply: the run it answers, the target's latest own messages and
    the most similar of the earlier candidates, in chat order."""
    first = run[0]
    pool = range(max(0, first - options.candidates), first)
    chosen = set(answered)
    own = [i for i in pool if kept[i]["role"] == "assistant"]
    chosen.update(own[-options.own_messages :] if options.own_messages else [])
    query = vectors[run].mean(axis=0)
    others = [i for i in pool if i not in chosen]
    ranked = sorted(others, key=lambda i: (-float(vectors[i] @ query), -i))
    chosen.update(ranked[: options.top_k])
    return sorted(chosen)


def _context_turns(turns: Sequence[Turn]) -> int:
    """How many turns come before the first trained one."""
    return next(i for i, turn in enumerate(turns) if turn["trained"])


def _words(text: str) -> int:
    return len(text.split())


def session_examples(
    turns: Sequence[Turn],
    conversation_id: str,
    source: str,
    options: ConversationOptions,
    dropped: Counter,
) -> list[dict[str, Any]]:
    """Sliding-window instruction examples of one session (``turns`` in order)."""
    spoken = [t for t in turns if t["role"] != "system"]
    dropped["system_turns"] += len(turns) - len(spoken)
    messages = [{"role": t["role"], "content": t["text"]} for t in spoken]
    empty = sum(1 for m in messages if not m["content"].strip())
    dropped["turns_empty_after_cleaning"] += empty
    pairs, dangling = formatting.exchanges_from_turns(messages)
    dropped["dangling_turns"] += dangling
    exchanges = []
    for user_text, answer in pairs:
        words = min(_words(user_text), _words(answer)), max(_words(user_text), _words(answer))
        if words[0] < options.min_words:
            dropped["exchanges_too_short"] += 1
        elif words[1] > options.max_words:
            dropped["exchanges_too_long"] += 1
        else:
            exchanges.append((user_text, answer))
    instruction = options.instruction or formatting.DEFAULT_INSTRUCTION
    size = options.exchanges_per_example
    examples, seen = [], set()
    chunks = formatting.chunk_exchanges(len(exchanges), options.max_exchanges, options.overlap)
    for number, chunk in enumerate(chunks):
        length = chunk.end - chunk.start
        if length < options.min_exchanges_per_example:
            dropped["chunks_too_short"] += 1
            continue
        for start in range(chunk.start, max(chunk.start, chunk.end - size) + 1):
            window = (start, min(start + size, chunk.end))
            if window in seen:
                dropped["overlap_windows_repeated"] += 1
                continue
            seen.add(window)
            example_turns = []
            for index in range(*window):
                user_text, answer = exchanges[index]
                if index == window[0]:
                    user_text = formatting.patient_turn(instruction, user_text)
                trained = options.train_on == TRAIN_ALL or index == window[1] - 1
                example_turns.append(_turn("user", None, user_text))
                example_turns.append(_turn("assistant", None, answer, trained))
            examples.append(
                {
                    "example_id": f"{conversation_id}:window-{window[0]:05d}-{window[1]:05d}",
                    "group_id": conversation_id,
                    "source": source,
                    "style": "sessions",
                    "turns": example_turns,
                    "context_turns": _context_turns(example_turns),
                    "chunk": number,
                }
            )
    return examples


def build_examples(
    turns: Any, options: ConversationOptions, style: str, embedder: Embedder | None = None
) -> tuple[list[dict[str, Any]], Counter]:
    """The examples of a turns table (polars, ``turns.TURN_SCHEMA``) in ``style`` ("chat" or
    "sessions"), and the counts of what was dropped, by reason."""
    dropped: Counter = Counter()
    examples: list[dict[str, Any]] = []
    ordered = turns.sort("conversation_id", "turn_index", maintain_order=True)
    for (conversation_id,), group in ordered.group_by("conversation_id", maintain_order=True):
        rows = [
            _turn(r["role"], r["speaker"], r["text"] or "") for r in group.iter_rows(named=True)
        ]
        source = group["source"][0]
        if style == "chat":
            examples += chat_examples(rows, conversation_id, source, options, dropped, embedder)
        else:
            examples += session_examples(rows, conversation_id, source, options, dropped)
    return examples, Counter({k: v for k, v in dropped.items() if v})


#: the stored examples table: ``turns`` as JSON text (a list of {role, speaker, text, trained})
EXAMPLE_SCHEMA = {
    "example_id": pl.String,
    "group_id": pl.String,
    "source": pl.String,
    "style": pl.String,
    "users": pl.String,
    "context_turns": pl.Int64,
    "chunk": pl.Int64,
    "turns": pl.String,
}


def examples_frame(examples: Sequence[dict[str, Any]], users: str) -> pl.DataFrame:
    """The examples as an ``EXAMPLE_SCHEMA`` table."""
    return pl.DataFrame(
        [
            {**e, "users": users, "turns": json.dumps(e["turns"], ensure_ascii=False)}
            for e in examples
        ],
        schema=EXAMPLE_SCHEMA,
    )


def examples_from_frame(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The examples of an ``EXAMPLE_SCHEMA`` table (what training.dataset takes)."""
    return [{**row, "turns": json.loads(row["turns"])} for row in frame.iter_rows(named=True)]
