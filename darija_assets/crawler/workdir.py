"""The files a crawl keeps in its per-source work directory, and how to read them back.

Shared by the Scrapy side (pipelines, extensions, spider) and the runner, without
importing Scrapy::

    items.jsonl        one chapter per line, appended and flushed per item (durable progress)
    quarantine.jsonl   url, reason, stage, source for every page that yielded no chapter
    markers.jsonl      url -> the listing's "updated" stamp of each chapter crawled; kept
                       across crawls so a re-crawl can tell a changed chapter from its listing
    unwritten.jsonl    chapters of earlier finished crawls that the corpus table may not hold
                       yet (a kill between the crawl's end and the table write): moved here,
                       not deleted, when the next crawl starts, and merged by every run
                       until the table holds them (runner.unwritten_rows)
    stats.json         the last run's counters, written when the spider closes
    runs.jsonl         every closed run's stats (a resumed crawl has several)
    state.json         "running" while a crawl runs, then its close reason
    lock               flock()ed by the running crawl; the kernel drops it even on kill -9
    job/               Scrapy's JOBDIR (pending requests, seen fingerprints)
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: raw_corpus columns, in table order
CORPUS_FIELDS = (
    "url",
    "title",
    "raw_text",
    "publish_date",
    "category",
    "story",
    "chapter_index",
    "content_hash",
    "crawled_at",
    "source",
)
QUARANTINE_FIELDS = ("url", "reason", "stage", "source")


class WorkDir:
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    items = property(lambda self: self.root / "items.jsonl")
    quarantine = property(lambda self: self.root / "quarantine.jsonl")
    markers = property(lambda self: self.root / "markers.jsonl")
    unwritten = property(lambda self: self.root / "unwritten.jsonl")
    stats = property(lambda self: self.root / "stats.json")
    runs = property(lambda self: self.root / "runs.jsonl")
    state = property(lambda self: self.root / "state.json")
    lock = property(lambda self: self.root / "lock")
    job_dir = property(lambda self: self.root / "job")
    log_file = property(lambda self: self.root / "crawl.log")

    def read_state(self) -> dict[str, Any] | None:
        if not self.state.exists():
            return None
        return json.loads(self.state.read_text(encoding="utf-8"))

    def try_lock(self):
        """Open and flock the lock file; returns the open file (keep it to hold the lock) or None."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock, "a")  # noqa: SIM115 (held open for as long as the lock is)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file; a torn last line (the writer was killed mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if number < len(lines):
                # Only the final, unterminated line can be torn by a kill; anything else is damage.
                raise ValueError(f"{path}:{number}: corrupt JSON line") from None
            log.warning("%s: ignoring torn last line %d (writer was interrupted)", path, number)


def repair_torn_tail(path: Path) -> None:
    """Cut an unterminated last line, so appending after a kill -9 starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
        log.warning("%s: cut %d bytes of a torn last line", path, len(data) - keep)


def latest_markers(path: Path) -> dict[str, str]:
    """url -> the last listing marker recorded for it (later lines win)."""
    return {row["url"]: row["marker"] for row in read_jsonl(path)}


class SkipPolicy:
    """Which chapter links a crawl leaves alone, decided from the listing alone.

    - ``already_crawled``: the chapter is in this crawl's items.jsonl (a resumed or
      recovered crawl never fetches a chapter twice);
    - ``unchanged``: the corpus already holds the URL (the known file) and its listing
      marker equals the one recorded when it was crawled. A listing that shows no marker
      cannot reveal edits, so a known URL is then always treated as unchanged; a known URL
      whose marker was never recorded is fetched once, to establish one.
    """

    def __init__(self, crawled=(), known=None, markers=None):
        self.crawled: set[str] = set(crawled)
        self.known: dict[str, str] = dict(known or {})
        self.markers: dict[str, str] = dict(markers or {})

    @classmethod
    def load(cls, known_file: str | Path | None, work_dir: str | Path | None) -> SkipPolicy:
        known = json.loads(Path(known_file).read_text(encoding="utf-8")) if known_file else {}
        if not isinstance(known, dict):
            raise TypeError(
                f"known file {known_file} must hold a JSON object {{url: content_hash}}"
            )
        if work_dir is None:
            return cls(known=known)
        work = WorkDir(work_dir)
        crawled = {row["url"] for row in read_jsonl(work.items)}
        return cls(crawled=crawled, known=known, markers=latest_markers(work.markers))

    def decide(self, url: str, marker: str | None) -> str | None:
        if url in self.crawled:
            return "already_crawled"
        if url in self.known and (marker is None or self.markers.get(url) == marker):
            return "unchanged"
        return None
