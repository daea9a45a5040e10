"""Crawl extensions: the run report in the work directory, and the bridge to Dagster Pipes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

from scrapy import signals
from scrapy.exceptions import NotConfigured

from darija_assets.crawler.spiders.qesa import STAGE_SELECTORS
from darija_assets.crawler.workdir import WorkDir
from darija_assets.storage import write_json

log = logging.getLogger(__name__)
PIPES_CONTEXT_ENV = "DAGSTER_PIPES_CONTEXT"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def crawl_summary(stats: dict, spider, reason: str) -> dict:
    """The run's counters, from Scrapy's stats plus the spider's ``darija/*`` counters."""

    def count(key: str) -> int:
        return int(stats.get(key, 0))

    summary = {
        "source": spider.source,
        "profile": spider.profile.name,
        "start_url": spider.start_url,
        "finish_reason": reason,
        "pages": {stage: count(f"darija/pages/{stage}") for stage in ("list", "story", "chapter")},
        "status_counts": {
            key.rsplit("/", 1)[1]: value
            for key, value in sorted(stats.items())
            if key.startswith("downloader/response_status_count/")
        },
        "requests": count("downloader/request_count"),
        "items": count("item_scraped_count"),
        "quarantined": count("darija/quarantined"),
        "first_quarantined": stats.get("darija/first_quarantined"),
        "robots_denied": count("robotstxt/forbidden"),
        # pages read with another charset than Scrapy's, pages no charset reads cleanly,
        # pages read with a few bytes invalid in their charset
        "charset_corrected": count("darija/charset/corrected"),
        "charset_unreadable": count("darija/charset/unreadable"),
        "charset_invalid_bytes": count("darija/charset/invalid_bytes"),
        "skipped_unchanged": count("darija/skipped_unchanged"),
        "skipped_already_crawled": count("darija/skipped_already_crawled"),
        "selectors": {
            name: {
                "pages": count(f"darija/selectors/{name}/pages"),
                "matched": count(f"darija/selectors/{name}/matched"),
            }
            for name in STAGE_SELECTORS
        },
    }
    summary["failure"] = extraction_failure(summary, spider.profile)
    return summary


def extraction_failure(summary: dict, profile) -> str | None:
    """Why a finished crawl that kept nothing is a failure, naming the selector at fault."""
    if (
        summary["finish_reason"] != "finished"
        or summary["items"]
        or summary["skipped_unchanged"]
        or summary["skipped_already_crawled"]
    ):
        return None
    prefix = (
        f"profile {profile.name!r} ({profile.path}) extracted nothing from {summary['start_url']}"
    )
    for name, stage in STAGE_SELECTORS.items():
        seen = summary["selectors"][name]
        if seen["pages"] and not seen["matched"]:
            return (
                f"{prefix}: selector {name} {profile.selector(name)!r} matched nothing on any of "
                f"{seen['pages']} {stage} page(s)"
            )
    return (
        f"{prefix}: no chapter kept, {summary['quarantined']} page(s) quarantined, "
        f"the first: {summary['first_quarantined']}"
    )


class CrawlReport:
    """Hold the work directory's lock, mark the run as running, write stats.json at close.

    The lock (an flock the kernel releases when the process dies, even by kill -9) keeps two
    crawls out of one work directory; state.json left at "running" tells the runner that
    the last crawl did not close cleanly.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        work_dir = crawler.settings.get("DARIJA_WORK_DIR")
        self.work = WorkDir(work_dir) if work_dir else None
        self.lock = None
        if self.work is not None:
            self.lock = self.work.try_lock()
            if self.lock is None:
                raise RuntimeError(
                    f"another crawl is running in {self.work.root} (it holds {self.work.lock})"
                )
        self.started_at = _now()
        crawler.signals.connect(self.spider_opened, signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider) -> None:
        if self.work is not None:
            write_json(
                {"state": "running", "pid": os.getpid(), "started_at": self.started_at},
                self.work.state,
            )

    def spider_closed(self, spider, reason: str) -> None:
        summary = crawl_summary(self.crawler.stats.get_stats(), spider, reason)
        summary.update(started_at=self.started_at, finished_at=_now())
        if summary["failure"]:
            log.error("crawl failed: %s", summary["failure"])
        log.info(
            "crawl %s: %d chapters, %d quarantined, %d unchanged skipped, %d already crawled, "
            "pages %s, charsets corrected %d, unreadable %d",
            reason,
            summary["items"],
            summary["quarantined"],
            summary["skipped_unchanged"],
            summary["skipped_already_crawled"],
            summary["pages"],
            summary["charset_corrected"],
            summary["charset_unreadable"],
        )
        if self.work is not None:
            write_json(summary, self.work.stats)
            with open(self.work.runs, "a", encoding="utf-8") as runs:
                runs.write(json.dumps(summary, ensure_ascii=False) + "\n")
            write_json(
                {"state": reason, "pid": os.getpid(), "finished_at": summary["finished_at"]},
                self.work.state,
            )
            self.lock.close()


class _PipesLogHandler(logging.Handler):
    """Forward the crawl's own log lines and every warning or error to Dagster."""

    def __init__(self, pipes_log: logging.Logger):
        super().__init__(level=logging.INFO)
        self.pipes_log = pipes_log

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name.startswith(("darija_assets", "qesa"))
        if ours or record.levelno >= logging.WARNING:
            self.pipes_log.log(record.levelno, f"[{record.name}] {record.getMessage()}")


class DagsterPipesBridge:
    """When started by dagster's PipesSubprocessClient, report progress through Dagster Pipes.

    Disabled (NotConfigured) when DAGSTER_PIPES_CONTEXT is absent, so plain ``scrapy crawl``
    runs are unaffected. Cancelling the Dagster run sends SIGINT, which Scrapy turns into a
    graceful stop that keeps the JOBDIR resumable.
    """

    def __init__(self, crawler, pipes, every: int):
        self.crawler = crawler
        self.pipes = pipes
        self.every = max(1, every)
        self.handler = _PipesLogHandler(pipes.log)
        logging.getLogger().addHandler(self.handler)
        crawler.signals.connect(self.spider_opened, signals.spider_opened)
        crawler.signals.connect(self.item_scraped, signals.item_scraped)
        crawler.signals.connect(self.spider_closed, signals.spider_closed)
        crawler.signals.connect(self.engine_stopped, signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler):
        if not os.environ.get(PIPES_CONTEXT_ENV):
            raise NotConfigured("not launched by Dagster Pipes")
        from dagster_pipes import open_dagster_pipes

        return cls(
            crawler, open_dagster_pipes(), crawler.settings.getint("DARIJA_PIPES_PROGRESS_EVERY")
        )

    def spider_opened(self, spider) -> None:
        self.pipes.log.info(
            f"crawling {spider.start_url} with profile {spider.profile.name!r} for source {spider.source!r}"
        )

    def item_scraped(self, item, spider) -> None:
        done = self.crawler.stats.get_value("item_scraped_count", 0)
        if done % self.every == 0:
            self.pipes.log.info(f"{done} chapters crawled")

    def spider_closed(self, spider, reason: str) -> None:
        summary = crawl_summary(self.crawler.stats.get_stats(), spider, reason)
        self.pipes.report_custom_message({"crawl_summary": summary})

    def engine_stopped(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.pipes.close()
