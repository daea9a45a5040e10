"""The answer cache: every verdict an LLM ever gave us, keyed by ``cache_key``.

It is the durable progress record of every LLM step, not just a speed-up: the
runner commits each answered batch here before counting it done, so after a
``kill -9`` a rerun finds those answers and re-sends only what was never answered.
Final rejections (quarantined items) are stored too, so a rerun reproduces the
quarantine without paying for the question again.

SQLite in WAL mode lets several threads and processes (two partitions
materializing at once) read while one writes; ``busy_timeout`` makes writers
queue instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from typing_extensions import Self

from darija_assets.llm.base import Accepted, Rejected, Verdict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    cache_key      TEXT PRIMARY KEY,
    task           TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    backend        TEXT NOT NULL,
    model          TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    value_json     TEXT,
    reason         TEXT,
    raw            TEXT,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    latency_s      REAL NOT NULL,
    created_at     TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class CachedAnswer:
    """One stored verdict. Token counts are this item's share of its request."""

    cache_key: str
    task: str
    prompt_version: str
    backend: str
    model: str
    verdict: Verdict
    latency_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    created_at: str = ""


class AnswerCache:
    """A SQLite file of verdicts; safe to share between threads and processes.

    ``AnswerCache(":memory:")`` gives a private in-process cache (tests, one-off runs).
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: sqlite3 connections are not safe to use
        # from two threads at once, and the runner writes from one thread anyway.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process kill (only an OS crash could lose
            # the last commits), which is the failure we design for.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._conn.execute(_SCHEMA)

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, CachedAnswer] = {}
        # SQLite caps bound parameters per statement; 500 is well under every build's limit.
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT * FROM answers WHERE cache_key IN ({marks})", chunk
                ).fetchall()
            for row in rows:
                answer = _from_row(row)
                found[answer.cache_key] = answer
        return found

    def put_many(self, answers: Iterable[CachedAnswer]) -> int:
        """Store answers in ONE transaction (all or nothing); returns how many.

        An existing key is overwritten: the newest verdict for a question wins.
        """
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [_to_row(a, now) for a in answers]
        if not rows:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return len(rows)

    def count(self, *, task: str | None = None, status: str | None = None) -> int:
        clauses, params = [], []
        if task is not None:
            clauses.append("task = ?")
            params.append(task)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM answers{where}", params).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_row(a: CachedAnswer, now: str) -> tuple:
    if isinstance(a.verdict, Accepted):
        status, value_json, reason = "accepted", json.dumps(a.verdict.value, ensure_ascii=False), None
    else:
        status, value_json, reason = "rejected", None, a.verdict.reason
    return (
        a.cache_key, a.task, a.prompt_version, a.backend, a.model, status, value_json, reason,
        a.verdict.raw, a.input_tokens, a.output_tokens, a.latency_s, a.created_at or now,
    )


def _from_row(row: tuple) -> CachedAnswer:
    (key, task, version, backend, model, status, value_json, reason, raw,
     input_tokens, output_tokens, latency_s, created_at) = row
    verdict: Verdict = (
        Accepted(value=json.loads(value_json), raw=raw)
        if status == "accepted"
        else Rejected(reason=reason, raw=raw)
    )
    return CachedAnswer(
        cache_key=key, task=task, prompt_version=version, backend=backend, model=model,
        verdict=verdict, latency_s=latency_s, input_tokens=input_tokens,
        output_tokens=output_tokens, created_at=created_at,
    )
