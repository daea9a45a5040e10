"""Conversations of the chat page, in SQLite.

Three tables, as the original Algerian Darija chat app kept them in MongoDB
(users, conversations, messages):

- ``users(id, name, created_at)``: an anonymous visitor gets one on first visit;
- ``conversations(id, user_id, title, created_at)``: the title is the first message's
  start;
- ``messages(id, conversation_id, role, content, crisis, created_at)``: ``role`` is
  ``user`` or ``assistant``; ``crisis`` marks a message the crisis guard answered, and
  the fixed answer it got.

Times are UTC ISO 8601 strings. Every call opens its own connection, so the store is
safe to use from the web server's worker threads; SQLite's own locking serialises
the writes (WAL mode lets reads go on meanwhile).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    crisis INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX IF NOT EXISTS conversations_by_user ON conversations(user_id, id);
"""

#: characters of the first message kept as a conversation's title
TITLE_CHARS = 60


class NotFound(LookupError):
    """No user or conversation with that id."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ChatStore:
    """Users, conversations and messages in the SQLite file ``path`` (created if missing)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        try:
            with db:  # commits, or rolls back on an exception
                yield db
        finally:
            db.close()

    def add_user(self, name: str = "anonymous") -> int:
        with self._connect() as db:
            return db.execute(
                "INSERT INTO users(name, created_at) VALUES (?, ?)", (name, _now())
            ).lastrowid

    def add_conversation(self, user_id: int) -> int:
        """A new empty conversation of ``user_id``; NotFound when the user does not exist."""
        with self._connect() as db:
            if db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFound(f"no user {user_id}")
            return db.execute(
                "INSERT INTO conversations(user_id, created_at) VALUES (?, ?)", (user_id, _now())
            ).lastrowid

    def conversations(self, user_id: int) -> list[dict[str, Any]]:
        """The user's conversations, newest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, title, created_at FROM conversations WHERE user_id = ? ORDER BY id DESC",
                (user_id,),
            ).fetchall()
        return [dict(r) for r in rows]

    def add_message(
        self, conversation_id: int, role: str, content: str, crisis: bool = False
    ) -> int:
        """Append a message; the first user message titles the conversation. NotFound when
        the conversation does not exist; sqlite3.IntegrityError on an unknown role."""
        with self._connect() as db:
            row = db.execute(
                "SELECT title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no conversation {conversation_id}")
            if role == "user" and not row["title"]:
                db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ?",
                    (content.strip()[:TITLE_CHARS], conversation_id),
                )
            return db.execute(
                "INSERT INTO messages(conversation_id, role, content, crisis, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (conversation_id, role, content, int(crisis), _now()),
            ).lastrowid

    def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        """The conversation's messages in order; NotFound when it does not exist."""
        with self._connect() as db:
            if (
                db.execute(
                    "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"no conversation {conversation_id}")
            rows = db.execute(
                "SELECT id, role, content, crisis, created_at FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [{**dict(r), "crisis": bool(r["crisis"])} for r in rows]
