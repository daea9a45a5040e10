"""The turns of a conversation source: WhatsApp exports and session files as one table.

Each row is one turn (``TURN_SCHEMA``): conversation_id, turn_index, speaker (a stable
pseudonym, never a name or a phone number), role (user / assistant / system), raw_text (as
imported: names and numbers already rewritten), text (cleaned with the project's cleaning,
``text.normalize.clean_series``, Latin script and digits kept because chats mix Arabizi in),
timestamp (ISO-8601 when the file has one), file, line, url and source.

Both kinds are read through the importer, so raw_corpus and conversations see the same
messages, speakers and quarantine:

* a WhatsApp export is one conversation; the chat style's target speaker (the option, or the
  speaker with the most messages) has the assistant role, the others the user role;
* a session file gives one conversation per session; roles come from the speakers' names
  (see ``sessions.role_of``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import polars as pl

from darija_assets.conversations.options import (
    CHAT,
    CONVERSATION_FORMATS,
    ConversationOptions,
    parse_options,
)
from darija_assets.text.normalize import CleanOptions, clean_series

TURN_SCHEMA = {
    "conversation_id": pl.String,
    "turn_index": pl.Int64,
    "speaker": pl.String,
    "role": pl.String,
    "raw_text": pl.String,
    "text": pl.String,
    "timestamp": pl.String,
    "file": pl.String,
    "line": pl.Int64,
    "url": pl.String,
    "source": pl.String,
}
#: chats mix Arabic script with Arabizi: keep Latin letters and digits
CHAT_CLEANING = CleanOptions(keep_latin=True, keep_digits=True)
_LINE_RE = re.compile(r"#L(\d+)$")


class NotConversations(ValueError):
    """A source whose records are not conversations (crawled sites, plain text files)."""


class Turns(NamedTuple):
    #: TURN_SCHEMA rows, ordered by conversation and turn
    frame: pl.DataFrame
    #: the importer's quarantine (url, source, line, reason, stage)
    quarantine: pl.DataFrame
    #: the importer's stats plus format, style, target_speaker (chat)
    stats: dict
    options: ConversationOptions


def read_turns(source) -> Turns:
    """The turns of a file source whose format is ``whatsapp`` or ``sessions``.

    Raises NotConversations for any other source (the reason says which format it has),
    ValueError for bad conversation options or a target speaker the chat does not have.
    """
    from darija_assets.text.importers import import_source

    if source.kind != "file":
        raise NotConversations(
            f"source {source.name!r} is a crawled site ({source.kind}): its records are "
            "stories, not conversations"
        )
    options = parse_options(source.extra.get("conversations"))
    imported = import_source(source)
    fmt = imported.stats["format"]
    if fmt not in CONVERSATION_FORMATS:
        raise NotConversations(
            f"source {source.name!r} is a {fmt} file: only {list(CONVERSATION_FORMATS)} files "
            "hold conversations (set 'format' for a session file in JSONL)"
        )
    frame = imported.frame
    style = options.style_for(fmt)
    stats = {**imported.stats, "style": style}
    lines = frame["url"].str.extract(_LINE_RE.pattern, 1).cast(pl.Int64)
    files = frame["url"].str.replace(_LINE_RE.pattern, "")
    if fmt == "whatsapp":
        conversation = f"{source.name}:{Path(imported.stats['path']).name}"
        turns = frame.select(
            pl.lit(conversation).alias("conversation_id"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("turn_index"),
            "speaker",
            pl.lit("user").alias("role"),
            pl.col("raw_text"),
            pl.col("publish_date").alias("timestamp"),
        )
    else:
        turns = frame.select(
            pl.col("story").alias("conversation_id"),
            pl.col("chapter_index").alias("turn_index"),
            "speaker",
            pl.col("raw_text"),
            pl.col("publish_date").alias("timestamp"),
        ).join(
            _session_roles(source, options),
            on=["conversation_id", "turn_index"],
            how="left",
            maintain_order="left",
        )
    turns = turns.with_columns(
        text=clean_series(turns["raw_text"], CHAT_CLEANING),
        file=files,
        line=lines,
        url=frame["url"],
        source=pl.lit(source.name),
    )
    if style == CHAT:
        target = options.target_speaker or _most_talkative(turns)
        if target is not None and target not in set(turns["speaker"]):
            raise ValueError(
                f"source {source.name!r}: target_speaker {target!r} is not a speaker of this "
                f"chat (speakers: {sorted(set(turns['speaker']))})"
            )
        turns = turns.with_columns(
            role=pl.when(pl.col("speaker") == target)
            .then(pl.lit("assistant"))
            .otherwise(pl.lit("user"))
        )
        stats["target_speaker"] = target
    return Turns(
        turns.select(list(TURN_SCHEMA)).cast(TURN_SCHEMA), imported.quarantine, stats, options
    )


def _most_talkative(turns: pl.DataFrame) -> str | None:
    """The speaker with the most messages (ties: the first to speak)."""
    if turns.height == 0:
        return None
    counts = turns.group_by("speaker", maintain_order=True).len()
    return counts.sort("len", descending=True, maintain_order=True)["speaker"][0]


def _session_roles(source, options: ConversationOptions) -> pl.DataFrame:
    """conversation_id, turn_index and role of each turn of a session file (raw_corpus
    keeps the turns' text and speakers, not their roles)."""
    from darija_assets.conversations.sessions import session_rows

    path = Path(source.path)
    lines = path.read_bytes().decode("utf-8-sig").splitlines()
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    rows = session_rows(lines, jsonl, options, path.stem).rows
    return pl.DataFrame(
        [{k: row[k] for k in ("conversation_id", "turn_index", "role")} for row in rows],
        schema={"conversation_id": pl.String, "turn_index": pl.Int64, "role": pl.String},
    )
