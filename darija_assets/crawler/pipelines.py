"""Item pipelines: stamp each chapter, then record it durably in the work directory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextlib import ExitStack

from scrapy.exceptions import DropItem

from darija_assets.crawler.items import ChapterItem, QuarantineItem
from darija_assets.crawler.workdir import (
    CORPUS_FIELDS,
    QUARANTINE_FIELDS,
    WorkDir,
    repair_torn_tail,
)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class StampPipeline:
    """Fill content_hash (sha256 of raw_text) and crawled_at (ISO-8601 UTC)."""

    def process_item(self, item, spider=None):
        if isinstance(item, ChapterItem):
            item["content_hash"] = content_hash(item["raw_text"])
            item["crawled_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return item


class WorkDirPipeline:
    """Append chapters to items.jsonl and quarantine rows to quarantine.jsonl, one flush per row.

    A flushed line is in the kernel's page cache, so it survives the crawler being killed
    (kill -9 included); the runner then resumes from these files. Quarantine rows are
    dropped after being recorded so they never reach ``-o`` feeds, and the drop is logged
    with its reason. Without DARIJA_WORK_DIR (a plain ``scrapy crawl``) only the logging happens.
    """

    def __init__(self, work_dir: str | None):
        self.work = WorkDir(work_dir) if work_dir else None
        self.files = {}
        self.open_files = ExitStack()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("DARIJA_WORK_DIR"))

    def open_spider(self, spider=None):
        if self.work is None:
            return
        self.work.root.mkdir(parents=True, exist_ok=True)
        for name in ("items", "quarantine", "markers"):
            path = getattr(self.work, name)
            repair_torn_tail(path)
            # Open for the whole crawl (closed by the ExitStack in close_spider).
            handle = open(path, "a", encoding="utf-8")  # noqa: SIM115
            self.files[name] = self.open_files.enter_context(handle)

    def close_spider(self, spider=None):
        self.open_files.close()

    def _append(self, name: str, row: dict) -> None:
        handle = self.files[name]
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()

    def process_item(self, item, spider=None):
        if isinstance(item, QuarantineItem):
            if self.work is not None:
                self._append("quarantine", {f: item.get(f) for f in QUARANTINE_FIELDS})
            raise DropItem(f"quarantined {item['url']} ({item['stage']}): {item['reason']}")
        if self.work is not None:
            self._append("items", {f: item.get(f) for f in CORPUS_FIELDS})
            if item.get("listing_marker"):
                self._append("markers", {"url": item["url"], "marker": item["listing_marker"]})
        return item
