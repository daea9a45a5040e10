"""The answer cache: every verdict an LLM ever gave us, keyed by ``cache_key``.

It is the durable progress record of every LLM step, not just a speed-up: the
runner commits each answered batch here before counting it done, so after a
``kill -9`` a rerun finds those answers and re-sends only what was never answered.

Final rejections (quarantined items) are stored with their *cause*
(``darija_assets.llm.base.REJECTION_CAUSES``), which decides what a later run does
with them (``CachedAnswer.reusable``): a content rejection (the model's label was
outside the set after every retry) is replayed, so the quarantine is reproduced
without paying again, unless the run asks for rejections to be re-asked; a
malformed answer or a transport failure says nothing about the item and is asked
again. Rows written before causes were recorded read as ``unknown`` and are asked
again once. So the cache never needs deleting by hand; ``darija-assets cache``
shows its counts and drops one task's, backend's or prompt version's answers.

*Claims* keep processes that share the file from paying for one question twice:
before sending a batch a runner claims its keys (``claim``, one atomic
transaction); a key another live process holds is waited for (its answer arrives
in the cache), a key whose holder is gone (its process died on this host, or its
heartbeat is older than the lease) is taken over. Writing an answer releases its
claim in the same transaction.

SQLite in WAL mode lets several threads and processes (two partitions
materializing at once) read while one writes; ``busy_timeout`` makes writers
queue instead of failing.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
from typing_extensions import Self

from darija_assets.llm.base import CONTENT, Accepted, Rejected, Verdict

if TYPE_CHECKING:
    from darija_assets.storage import Layout

#: the cause rows written before causes were recorded read as; asked again once
UNKNOWN_CAUSE = "unknown"
#: columns ``counts`` can group by and ``count`` / ``drop`` can filter on
COLUMNS = ("task", "backend", "model", "prompt_version", "status", "cause")
#: the cache file's name under the data directory's cache folder
CACHE_FILE = "llm_answers.sqlite"
#: a claim whose heartbeat is older than this is taken over (seconds); the holder
#: renews it every third of that, so only a dead or frozen process lets it lapse
DEFAULT_LEASE_S = 60.0

_ANSWERS = """
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
# Columns added after the first release, in the order ALTER TABLE appends them, so a
# migrated file and a new one have the same layout.
_ADDED_COLUMNS = {
    # NULL for accepted answers
    "cause": "TEXT",
    # write order: larger is newer; tells a waiting runner that a peer answered
    "seq": "INTEGER NOT NULL DEFAULT 0",
}
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    cache_key    TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    claimed_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
)
"""
_INSERT_ANSWER = (
    "INSERT OR REPLACE INTO answers (cache_key, task, prompt_version, backend, model, status,"
    " value_json, reason, raw, input_tokens, output_tokens, latency_s, created_at, cause, seq)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# A new holder restarts claimed_at; the same holder renewing keeps it.
_UPSERT_CLAIM = (
    "INSERT INTO claims (cache_key, owner, host, pid, claimed_at, heartbeat_at)"
    " VALUES (?,?,?,?,?,?) ON CONFLICT (cache_key) DO UPDATE SET"
    " claimed_at = CASE WHEN claims.owner = excluded.owner THEN claims.claimed_at"
    " ELSE excluded.claimed_at END,"
    " owner = excluded.owner, host = excluded.host, pid = excluded.pid,"
    " heartbeat_at = excluded.heartbeat_at"
)
# A process start time is derived from the boot time (whole seconds) and can drift
# from time.time() with clock adjustments; a pid whose process started this long after
# the claim was made belongs to a new process. Closer calls are left to the lease.
_START_TIME_SLACK_S = 30.0
# SQLite caps bound parameters per statement; 500 is well under every build's limit.
_CHUNK = 500


@dataclass(frozen=True)
class CachedAnswer:
    """One stored verdict. Token counts are this item's share of its request;
    ``seq`` is the cache's write order (0 until stored)."""

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
    seq: int = 0

    def reusable(self, reask_rejected: bool = False) -> bool:
        """Whether a run may use this verdict instead of asking: accepted answers
        always, content rejections unless ``reask_rejected``, other causes never."""
        if isinstance(self.verdict, Accepted):
            return True
        return self.verdict.cause == CONTENT and not reask_rejected


@dataclass
class ClaimResult:
    """What ``AnswerCache.claim`` decided for each key it was given."""

    #: keys this cache now holds: ask them
    mine: list[str] = field(default_factory=list)
    #: keys answered by someone else since ``since_seq``: use these verdicts
    answered: dict[str, CachedAnswer] = field(default_factory=dict)
    #: keys a live process is asking now -> that process ("host:pid:id"): wait
    held: dict[str, str] = field(default_factory=dict)
    #: keys of ``mine`` whose previous holder was gone -> that holder
    taken_over: dict[str, str] = field(default_factory=dict)


class AnswerCache:
    """A SQLite file of verdicts; safe to share between threads and processes.

    ``AnswerCache(":memory:")`` gives a private in-process cache (tests, one-off runs).
    Opening a file written by an older version adds the new columns in place.
    ``lease_s`` is how long a claim outlives its holder's last heartbeat.
    """

    def __init__(
        self, path: str | Path, *, busy_timeout_s: float = 30.0, lease_s: float = DEFAULT_LEASE_S
    ):
        self.path = str(path)
        self.lease_s = lease_s
        self.host = socket.gethostname()
        #: who holds this cache's claims: unique per open cache, even within one process
        self.owner = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: sqlite3 connections are not safe to use
        # from two threads at once (the runner's thread and the heartbeat).
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None
        )
        self._conn.row_factory = sqlite3.Row
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._closed = False
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process kill (only an OS crash could lose
            # the last commits), which is the failure we design for.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            with self._transaction():
                self._create_or_migrate()

    # -- answers ------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The stored verdict of each key that has one, whatever its status."""
        found: dict[str, CachedAnswer] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT * FROM answers WHERE cache_key IN ({marks})", chunk
                ).fetchall()
            found.update((row["cache_key"], _from_row(row)) for row in rows)
        return found

    def put_many(self, answers: Iterable[CachedAnswer]) -> int:
        """Store answers in ONE transaction (all or nothing); returns how many.

        An existing key is overwritten: the newest verdict for a question wins.
        This cache's claims on the keys are released in the same transaction.
        """
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        answers = list(answers)
        if not answers:
            return 0
        with self._lock, self._transaction():
            last = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM answers").fetchone()[0]
            self._conn.executemany(
                _INSERT_ANSWER, [_to_row(a, now, last + n) for n, a in enumerate(answers, 1)]
            )
            self._conn.executemany(
                "DELETE FROM claims WHERE cache_key = ? AND owner = ?",
                [(a.cache_key, self.owner) for a in answers],
            )
        return len(answers)

    def last_seq(self) -> int:
        """The write order of the newest answer (0 for an empty cache). Answers with a
        larger ``seq`` were written after this call."""
        with self._lock:
            return self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM answers").fetchone()[0]

    def count(self, **filters: str) -> int:
        """How many answers match ``filters`` (column name -> value, names from ``COLUMNS``)."""
        where, params = _where(filters)
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM answers{where}", params).fetchone()[0]

    def counts(self, by: Sequence[str] = COLUMNS, **filters: str) -> list[tuple[tuple, int]]:
        """Answer counts grouped by the ``by`` columns (from ``COLUMNS``), largest group
        first: ``[((task, backend, ...), n), ...]``. ``filters`` as in ``count``."""
        group = ", ".join(_checked(by))
        where, params = _where(filters)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {group}, COUNT(*) AS n FROM answers{where} GROUP BY {group}"
                f" ORDER BY n DESC, {group}",
                params,
            ).fetchall()
        return [(tuple(row)[:-1], row["n"]) for row in rows]

    def drop(self, **filters: str) -> int:
        """Delete the answers matching ``filters`` (at least one) in one transaction;
        returns how many. Their questions are asked again by the next run."""
        where, params = _where(filters)
        if not params:
            raise ValueError(f"drop needs at least one filter among {', '.join(COLUMNS)}")
        with self._lock, self._transaction():
            return self._conn.execute(f"DELETE FROM answers{where}", params).rowcount

    # -- claims -------------------------------------------------------------------
    def claim(self, keys: Iterable[str], *, since_seq: int) -> ClaimResult:
        """Claim ``keys`` for this cache before asking them, in one transaction.

        A key answered after ``since_seq`` (``last_seq()`` when the run looked the
        keys up) goes to ``answered``; a key held by another live process to
        ``held``; every other key (free, already ours, or held by a process that is
        gone) is claimed and goes to ``mine``. Claims stay until the key's answer is
        stored (``put_many``), ``release`` or ``close``; a heartbeat thread renews them.
        """
        keys = list(dict.fromkeys(keys))
        result = ClaimResult()
        now = time.time()
        with self._lock, self._transaction():
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT * FROM answers WHERE cache_key IN ({marks}) AND seq > ?",
                    [*chunk, since_seq],
                ):
                    result.answered[row["cache_key"]] = _from_row(row)
                holders = {
                    row["cache_key"]: row
                    for row in self._conn.execute(
                        f"SELECT * FROM claims WHERE cache_key IN ({marks})", chunk
                    )
                }
                for key in chunk:
                    if key in result.answered:
                        continue
                    holder = holders.get(key)
                    if holder is None or holder["owner"] == self.owner:
                        result.mine.append(key)
                    elif self._gone(holder, now):
                        result.mine.append(key)
                        result.taken_over[key] = holder["owner"]
                    else:
                        result.held[key] = holder["owner"]
            self._conn.executemany(
                _UPSERT_CLAIM,
                [(key, self.owner, self.host, os.getpid(), now, now) for key in result.mine],
            )
        if result.mine:
            self._start_heartbeat()
        return result

    def release(self, keys: Iterable[str]) -> None:
        """Give up this cache's claims on ``keys`` (others' claims are left alone)."""
        with self._lock, self._transaction():
            self._conn.executemany(
                "DELETE FROM claims WHERE cache_key = ? AND owner = ?",
                [(key, self.owner) for key in keys],
            )

    def claims(self) -> list[dict]:
        """Claims in flight, one dict per holder: owner, host, pid, keys,
        oldest claimed_at and last heartbeat_at (epoch seconds), gone (bool)."""
        now = time.time()
        with self._lock:
            rows = self._conn.execute(
                "SELECT owner, host, pid, COUNT(*) AS keys, MIN(claimed_at) AS claimed_at,"
                " MAX(heartbeat_at) AS heartbeat_at FROM claims GROUP BY owner, host, pid"
                " ORDER BY claimed_at"
            ).fetchall()
        return [{**dict(row), "gone": self._gone(row, now)} for row in rows]

    def _gone(self, holder: sqlite3.Row, now: float) -> bool:
        """The holder can no longer answer: its heartbeat lapsed, or (on this host)
        its process is gone, a zombie, or its pid now belongs to a younger process."""
        if holder["heartbeat_at"] < now - self.lease_s:
            return True
        if holder["host"] != self.host:
            return False
        try:
            process = psutil.Process(holder["pid"])
            return (
                process.status() == psutil.STATUS_ZOMBIE
                or process.create_time() > holder["claimed_at"] + _START_TIME_SLACK_S
            )
        except psutil.NoSuchProcess:
            return True
        except psutil.AccessDenied:  # another user's live process
            return False

    def _start_heartbeat(self) -> None:
        with self._lock:
            if self._beat is None and not self._closed:
                self._beat = threading.Thread(
                    target=self._heartbeat, name="answer-cache-claims", daemon=True
                )
                self._beat.start()

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(self.lease_s / 3):
            with self._lock:
                try:
                    self._conn.execute(
                        "UPDATE claims SET heartbeat_at = ? WHERE owner = ?",
                        (time.time(), self.owner),
                    )
                except sqlite3.OperationalError:
                    # Busy past busy_timeout: the lease allows two more beats.
                    continue

    # -- plumbing -----------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def _create_or_migrate(self) -> None:
        self._conn.execute(_ANSWERS)
        present = {row["name"] for row in self._conn.execute("PRAGMA table_info(answers)")}
        for name, ddl in _ADDED_COLUMNS.items():
            if name not in present:
                self._conn.execute(f"ALTER TABLE answers ADD COLUMN {name} {ddl}")
                if name == "cause":
                    self._conn.execute(
                        "UPDATE answers SET cause = ? WHERE status = 'rejected'", (UNKNOWN_CAUSE,)
                    )
        self._conn.execute("CREATE INDEX IF NOT EXISTS answers_seq ON answers (seq)")
        self._conn.execute(_CLAIMS)
        self._conn.execute("CREATE INDEX IF NOT EXISTS claims_owner ON claims (owner)")

    def close(self) -> None:
        """Stop the heartbeat, release this cache's claims and close the file."""
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cache_path(layout: Layout) -> Path:
    """Where the LLM steps of a data directory keep their answers."""
    return layout.cache(CACHE_FILE)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (the caller holds the lock).
    IMMEDIATE takes the write lock up front, so two processes' read-then-write
    transactions (claims, seq numbers) cannot interleave."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _chunks(keys: list[str]) -> Iterable[list[str]]:
    return (keys[start : start + _CHUNK] for start in range(0, len(keys), _CHUNK))


def _checked(columns: Iterable[str]) -> list[str]:
    columns = list(columns)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown or not columns:
        raise ValueError(f"unknown answer cache column(s) {unknown}; choose from {COLUMNS}")
    return columns


def _where(filters: dict[str, str | None]) -> tuple[str, list[str]]:
    filters = {name: value for name, value in filters.items() if value is not None}
    if not filters:
        return "", []
    names = _checked(filters)
    return " WHERE " + " AND ".join(f"{name} = ?" for name in names), list(filters.values())


def _to_row(a: CachedAnswer, now: str, seq: int) -> tuple:
    if isinstance(a.verdict, Accepted):
        status, value_json, reason, cause = (
            "accepted",
            json.dumps(a.verdict.value, ensure_ascii=False),
            None,
            None,
        )
    else:
        status, value_json, reason, cause = "rejected", None, a.verdict.reason, a.verdict.cause
    return (
        a.cache_key,
        a.task,
        a.prompt_version,
        a.backend,
        a.model,
        status,
        value_json,
        reason,
        a.verdict.raw,
        a.input_tokens,
        a.output_tokens,
        a.latency_s,
        a.created_at or now,
        cause,
        seq,
    )


def _from_row(row: sqlite3.Row) -> CachedAnswer:
    verdict: Verdict = (
        Accepted(value=json.loads(row["value_json"]), raw=row["raw"])
        if row["status"] == "accepted"
        else Rejected(reason=row["reason"], raw=row["raw"], cause=row["cause"] or UNKNOWN_CAUSE)
    )
    return CachedAnswer(
        cache_key=row["cache_key"],
        task=row["task"],
        prompt_version=row["prompt_version"],
        backend=row["backend"],
        model=row["model"],
        verdict=verdict,
        latency_s=row["latency_s"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        created_at=row["created_at"],
        seq=row["seq"],
    )
