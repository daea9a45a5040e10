"""Read therapy-session files: JSON sessions in the common layouts.

Layouts (field names configurable, see ``ConversationOptions``):

* a ``.json`` file holding one session: a list of turns, or an object whose ``dialogue``
  (``turns``, ``messages``, ``conversation``) field is that list;
* a ``.json`` file holding a list of sessions (each a list of turns or such an object);
* JSONL (``.jsonl``, ``.ndjson``): one session per line, in either form.

A turn is an object with a speaker (``speaker``, ``role``, ``from``) and a text (``text``,
``content``, ``value``), optionally a time (``timestamp``, ``time``, ``date``). Speakers named
in ``assistant_speakers`` (therapist, counsellor, assistant, ...) take the assistant role,
"system" the system role, everyone else the user role.

Provenance: a session's line is the line where its record starts (the JSONL line, line 1
for a whole-file JSON document, or the line of the list item for a list of sessions); turns
are told apart by their index. A turn or session that cannot be read becomes a problem
``(line, reason)``, never a silent drop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from darija_assets.conversations.options import ConversationOptions

DIALOGUE_FIELDS = ("dialogue", "turns", "messages", "conversation")
SPEAKER_FIELDS = ("speaker", "role", "from")
TEXT_FIELDS = ("text", "content", "value")
TIMESTAMP_FIELDS = ("timestamp", "time", "date")
ID_FIELDS = ("session_id", "id", "conversation_id")
USER, ASSISTANT, SYSTEM = "user", "assistant", "system"


@dataclass
class SessionTurn:
    speaker: str
    role: str
    text: str
    timestamp: str | None = None


@dataclass
class Session:
    #: the session's id as written, or None (the caller names it by file and line)
    session_id: str | None
    line: int
    turns: list[SessionTurn] = field(default_factory=list)


def _field(record: dict, configured: str | None, names: Sequence[str]) -> Any:
    if configured is not None:
        return record.get(configured)
    return next((record[name] for name in names if name in record), None)


def role_of(speaker: str, options: ConversationOptions) -> str:
    """The chat role of a speaker name (case-insensitive)."""
    name = speaker.strip().casefold()
    if name == SYSTEM:
        return SYSTEM
    if name in {s.casefold() for s in options.assistant_speakers}:
        return ASSISTANT
    return USER


def _session(
    value: Any, line: int, options: ConversationOptions, problems: list[tuple[int, str]]
) -> Session | None:
    session_id = None
    turns = value
    if isinstance(value, dict):
        raw_id = _field(value, options.id_field, ID_FIELDS)
        session_id = None if raw_id in (None, "") else str(raw_id)
        turns = _field(value, options.dialogue_field, DIALOGUE_FIELDS)
        if turns is None:
            wanted = options.dialogue_field or " / ".join(DIALOGUE_FIELDS)
            problems.append((line, f"session object without a list of turns ({wanted})"))
            return None
    if not isinstance(turns, list):
        problems.append((line, f"session turns are a JSON {type(turns).__name__}, not a list"))
        return None
    session = Session(session_id, line)
    for index, turn in enumerate(turns):
        where = f"turn {index}"
        if not isinstance(turn, dict):
            problems.append((line, f"{where}: a JSON {type(turn).__name__}, not an object"))
            continue
        speaker = _field(turn, options.speaker_field, SPEAKER_FIELDS)
        text = _field(turn, options.text_field, TEXT_FIELDS)
        if not isinstance(speaker, str) or not speaker.strip():
            wanted = options.speaker_field or " / ".join(SPEAKER_FIELDS)
            problems.append((line, f"{where}: no speaker ({wanted})"))
            continue
        if not isinstance(text, str) or not text.strip():
            wanted = options.text_field or " / ".join(TEXT_FIELDS)
            problems.append((line, f"{where}: no text ({wanted})"))
            continue
        stamp = _field(turn, options.timestamp_field, TIMESTAMP_FIELDS)
        session.turns.append(
            SessionTurn(
                speaker=speaker.strip(),
                role=role_of(speaker, options),
                text=text,
                timestamp=None if stamp in (None, "") else str(stamp),
            )
        )
    if not session.turns:
        problems.append((line, "session with no usable turn"))
        return None
    return session


def _is_turn_list(value: Any) -> bool:
    """A list whose items look like turns (objects without a list of turns of their own)."""
    return isinstance(value, list) and all(
        isinstance(item, dict) and not any(isinstance(v, list) for v in item.values())
        for item in value
    )


def _item_lines(text: str, count: int) -> list[int]:
    """The line where each item of a top-level JSON list starts (1 when it cannot tell)."""
    decoder = json.JSONDecoder()
    lines, position = [], text.index("[") + 1
    for _ in range(count):
        while text[position] in " \t\r\n,":
            position += 1
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
    return lines


def parse_sessions(
    lines: list[str], jsonl: bool, options: ConversationOptions
) -> tuple[list[Session], list[tuple[int, str]]]:
    """Sessions of a file's decoded lines, and the problems ``(line, reason)``.

    ``jsonl``: one session per line; otherwise the whole text is one JSON document.
    """
    problems: list[tuple[int, str]] = []
    sessions: list[Session] = []
    if jsonl:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append((number, f"invalid JSON ({err.msg} at column {err.colno})"))
                continue
            if (session := _session(value, number, options, problems)) is not None:
                sessions.append(session)
        return sessions, problems
    text = "\n".join(lines)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        return [], [(err.lineno, f"invalid JSON ({err.msg} at column {err.colno})")]
    if isinstance(document, list) and document and not _is_turn_list(document):
        # a list of sessions
        for item, line in zip(document, _item_lines(text, len(document))):
            if (session := _session(item, line, options, problems)) is not None:
                sessions.append(session)
    elif (session := _session(document, 1, options, problems)) is not None:
        sessions.append(session)
    return sessions, problems


@dataclass
class SessionRows:
    #: one dict per turn: conversation_id, turn_index, speaker (pseudonym), role, text (names
    #: and phone numbers rewritten as in chat exports), timestamp, line
    rows: list[dict[str, Any]]
    #: (line, reason) of every turn or session that could not be read
    problems: list[tuple[int, str]]
    #: sessions, speakers, and the mention and phone-number counts of the rewriting
    stats: dict[str, int]


def session_rows(
    lines: list[str], jsonl: bool, options: ConversationOptions, file_stem: str
) -> SessionRows:
    """The turns of a session file with speakers as stable pseudonyms (``speaker_1``, ... in
    order of first appearance in the file, the same rules as WhatsApp senders).

    A session without an id is named ``<file stem>:L<line>``.
    """
    # the chat importer's pseudonyms: one rule for every conversation source
    from darija_assets.text.importers import _Pseudonyms

    sessions, problems = parse_sessions(lines, jsonl, options)
    speakers = _Pseudonyms([turn.speaker for s in sessions for turn in s.turns])
    rows = []
    for session in sessions:
        conversation_id = session.session_id or f"{file_stem}:L{session.line}"
        for index, turn in enumerate(session.turns):
            rows.append(
                {
                    "conversation_id": conversation_id,
                    "turn_index": index,
                    "speaker": speakers.of(turn.speaker),
                    "role": turn.role,
                    "text": speakers.rewrite(turn.text),
                    "timestamp": turn.timestamp,
                    "line": session.line,
                }
            )
    stats = {"sessions": len(sessions), "speakers": len(speakers.by_key), **speakers.counts}
    return SessionRows(rows, problems, stats)
