"""The conversation options of a file source (its ``conversations`` object in $DARIJA_SOURCES).

A WhatsApp export (format ``whatsapp``) or a session file (format ``sessions``) is a
conversation source; the object below says how its files are read and how its examples are
built. Unknown keys and values of the wrong type are refused with the reason
(``ValueError``), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: example styles: one person's replies in a chat, or a counsellor's in sessions
CHAT, SESSIONS = "chat", "sessions"
#: how a chat example picks the turns before the target's reply
WINDOW, RETRIEVAL = "window", "retrieval"
#: several users in one user turn: joined as written, or each line led by its speaker
FOLD, MARK = "fold", "mark"
#: session windows: train every counsellor turn of the window, or only its last one
TRAIN_ALL, TRAIN_LAST = "all", "last"
#: speaker names (case-insensitive) read as the assistant role in session files
ASSISTANT_SPEAKERS = (
    "assistant",
    "therapist",
    "counsellor",
    "counselor",
    "psychologist",
    "doctor",
    "coach",
    "gpt",
    "model",
    "bot",
)
#: formats whose records are conversations
CONVERSATION_FORMATS = ("whatsapp", "sessions")


@dataclass(frozen=True)
class ConversationOptions:
    """How a conversation source is read and turned into training examples.

    Numbers: ``max_exchanges`` 300, ``overlap`` 0.2, windows of 2-3 exchanges and word limits
    1-200 are the therapy pipeline's (seed 004, ``ProcessingConfig``); chat context (sliding
    window, or top-k of the earlier messages most similar to the reply, with the target's own
    messages kept) is the WhatsApp project's (seed 002, ``build_whatsapp_dataset.py``).
    """

    #: "chat" (every reply of ``target_speaker``) or "sessions" (counsellor turns); None:
    #: chat for a WhatsApp export, sessions for a session file
    style: str | None = None
    # --- session files: field names; None tries the usual names in order ---
    #: the list of turns of a session object: "dialogue", "turns", "messages", "conversation"
    dialogue_field: str | None = None
    #: a turn's speaker: "speaker", "role", "from"
    speaker_field: str | None = None
    #: a turn's text: "text", "content", "value"
    text_field: str | None = None
    #: a turn's time: "timestamp", "time", "date" (optional)
    timestamp_field: str | None = None
    #: a session's id: "session_id", "id", "conversation_id" (default: the file and line)
    id_field: str | None = None
    #: speaker names read as the assistant (counsellor) role
    assistant_speakers: tuple[str, ...] = ASSISTANT_SPEAKERS
    # --- chat examples ---
    #: the pseudonym whose replies are learnt (``speaker_2``); None: the most talkative one
    target_speaker: str | None = None
    #: "window" (the previous ``window`` turns) or "retrieval" (see ``top_k``)
    context: str = WINDOW
    window: int = 8
    #: retrieval: how many earlier messages are picked, among the ``candidates`` before the reply
    top_k: int = 5
    candidates: int = 50
    #: how many of the target's own latest earlier messages are always kept in the context
    own_messages: int = 2
    #: "fold" (user messages joined) or "mark" (each led by its speaker pseudonym)
    users: str = FOLD
    # --- session examples ---
    max_exchanges: int = 300
    overlap: float = 0.2
    #: exchanges per sliding window, and the fewest a window (a short chunk) may have
    exchanges_per_example: int = 3
    min_exchanges_per_example: int = 2
    #: an exchange whose user or counsellor text has fewer or more words is dropped
    min_words: int = 1
    max_words: int = 200
    #: "all" counsellor turns of a window are trained, or the "last" one only
    train_on: str = TRAIN_ALL
    #: the instruction of each session example's first user turn
    instruction: str | None = None

    def style_for(self, fmt: str) -> str:
        return self.style or (CHAT if fmt == "whatsapp" else SESSIONS)


_CHOICES = {
    "style": (None, CHAT, SESSIONS),
    "context": (WINDOW, RETRIEVAL),
    "users": (FOLD, MARK),
    "train_on": (TRAIN_ALL, TRAIN_LAST),
}


def parse_options(raw: Mapping[str, Any] | None) -> ConversationOptions:
    """``ConversationOptions`` from a source's ``conversations`` object (None: defaults).

    Raises ValueError for an unknown key, a value of the wrong type or out of range.
    """
    if raw is None:
        return ConversationOptions()
    if not isinstance(raw, Mapping):
        raise ValueError("'conversations' must be an object of conversation options")  # noqa: TRY004 (sources.py reports ValueErrors)
    fields = {f.name: f for f in dataclasses.fields(ConversationOptions)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"conversations: unknown options {unknown}; known: {sorted(fields)}")
    values = dict(raw)
    if "assistant_speakers" in values:
        speakers = values["assistant_speakers"]
        if not isinstance(speakers, (list, tuple)) or not all(isinstance(s, str) for s in speakers):
            raise ValueError("conversations: 'assistant_speakers' must be a list of names")
        values["assistant_speakers"] = tuple(speakers)
    defaults = ConversationOptions()
    for key, value in values.items():
        default = getattr(defaults, key)
        expected = type(default) if default is not None else (str, type(None))
        if expected is float:
            expected = (int, float)
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ValueError(f"conversations: {key!r} has the wrong type ({value!r})")  # noqa: TRY004
    for key, choices in _CHOICES.items():
        if values.get(key, getattr(defaults, key)) not in choices:
            raise ValueError(f"conversations: {key!r} must be one of {list(choices)}")
    options = ConversationOptions(**values)
    for key in ("window", "top_k", "candidates", "max_exchanges", "exchanges_per_example"):
        if getattr(options, key) < 1:
            raise ValueError(f"conversations: {key!r} must be at least 1")
    if options.own_messages < 0 or options.min_words < 0:
        raise ValueError("conversations: 'own_messages' and 'min_words' cannot be negative")
    if not 1 <= options.min_exchanges_per_example <= options.exchanges_per_example:
        raise ValueError(
            "conversations: 'min_exchanges_per_example' must be between 1 and "
            "'exchanges_per_example'"
        )
    if options.max_words < max(1, options.min_words):
        raise ValueError("conversations: 'max_words' must be at least 'min_words' and 1")
    if not 0 <= options.overlap < 1:
        raise ValueError("conversations: 'overlap' must be in [0, 1)")
    return options
