"""Interrupted and repeated crawls: kill -9 and SIGINT mid-crawl, then re-crawls of a changed site.

The promise under test: after any interruption, re-running finishes the corpus with every
chapter exactly once and without fetching a kept chapter again; a re-crawl fetches the
listings but only the chapters that are new or whose listing says they changed.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from darija_assets.crawler import runner
from darija_assets.crawler.workdir import WorkDir, read_jsonl
from darija_assets.sample_site import manifest, serve_sample_site

#: one request at a time, so an interruption lands part-way through the chapters
ONE_AT_A_TIME = dict(runner.LOOPBACK_SETTINGS, CONCURRENT_REQUESTS_PER_DOMAIN="1")
EXTRACTABLE = len(manifest(1).extractable)  # 35


def crawled_urls(work_dir: Path) -> list[str]:
    return [row["url"] for row in read_jsonl(WorkDir(work_dir).items)]


def interrupt_after(site, work_dir: Path, signum: int, min_items: int = 8) -> list[str]:
    process, mode = runner.start_crawl(
        "sample", work_dir, start_url=site.base_url, settings=ONE_AT_A_TIME
    )
    assert mode == "new"
    deadline = time.monotonic() + 60
    while len(crawled_urls(work_dir)) < min_items:
        assert process.poll() is None, "crawl ended before it could be interrupted"
        assert time.monotonic() < deadline, "crawl made no progress"
        time.sleep(0.01)
    process.send_signal(signum)
    process.wait(timeout=60)
    return crawled_urls(work_dir)


@pytest.mark.parametrize(
    ("signum", "state_after", "mode"),
    [(signal.SIGKILL, "running", "recover"), (signal.SIGINT, "shutdown", "resume")],
    ids=["kill-9", "sigint"],
)
def test_interrupted_crawl_continues_without_loss_or_refetch(tmp_path, signum, state_after, mode):
    work_dir = tmp_path / "work"
    with serve_sample_site(delay_s=0.02) as site:
        before = interrupt_after(site, work_dir, signum)
        assert 0 < len(before) < EXTRACTABLE
        assert WorkDir(work_dir).read_state()["state"] == state_after
        site.clear_log()
        stats = runner.run_crawl(
            "sample",
            work_dir,
            start_url=site.base_url,
            settings=runner.LOOPBACK_SETTINGS,
            timeout_s=120,
        )
        refetched = {site.url(path) for path in site.requested_paths()} & set(before)

    assert stats["mode"] == mode
    assert stats["items"] == EXTRACTABLE - len(before)
    assert refetched == set()
    after = crawled_urls(work_dir)
    assert len(after) == EXTRACTABLE and len(set(after)) == EXTRACTABLE
    items, quarantine, collected = runner.collect(work_dir)
    assert items.height == EXTRACTABLE
    assert quarantine.height == 3
    if signum == signal.SIGKILL:
        # Scrapy's queue is only saved on a clean close: the listings are re-read and the
        # chapters already on disk are skipped by URL.
        assert stats["skipped_already_crawled"] == len(before)
    else:
        assert collected["runs"] == 2  # the paused run and the resumed one both closed cleanly


def chapter_paths(paths: list[str]) -> set[str]:
    return {p for p in paths if p.endswith(".html")}


def test_recrawl_fetches_only_new_and_changed_chapters(tmp_path):
    work_dir, known = tmp_path / "work", tmp_path / "known.json"
    v1, v2 = manifest(1), manifest(2)
    retried = {
        "/2025/05/l3ers-dyal-khalti-5.html",
        "/2025/04/weld-derb-risala.html",
    }  # quarantined: retried
    with serve_sample_site(version=1) as site:
        runner.run_crawl(
            "sample", work_dir, start_url=site.base_url, settings=runner.LOOPBACK_SETTINGS
        )
        first, _, _ = runner.collect(work_dir)
        corpus, counts = runner.merge_corpus(None, first)
        assert counts == {
            "new": 35,
            "updated": 0,
            "unchanged": 0,
            "refetched_unchanged": 0,
            "total": 35,
        }

        # Same site again: every listing page is read, no kept chapter is fetched.
        runner.write_known_file(corpus, known)
        site.clear_log()
        stats = runner.run_crawl(
            "sample",
            work_dir,
            start_url=site.base_url,
            known_path=known,
            settings=runner.LOOPBACK_SETTINGS,
        )
        assert stats["mode"] == "new"
        assert set(v1.listing_pages) <= set(site.requested_paths())
        assert chapter_paths(site.requested_paths()) == retried
        assert (stats["items"], stats["skipped_unchanged"]) == (0, 35)
        same, _, _ = runner.collect(work_dir)
        corpus, counts = runner.merge_corpus(corpus, same)
        assert counts == {
            "new": 0,
            "updated": 0,
            "unchanged": 35,
            "refetched_unchanged": 0,
            "total": 35,
        }

        # Version 2: one chapter added (on a new listing page), one edited (new "updated" stamp).
        site.set_version(2)
        runner.write_known_file(corpus, known)
        site.clear_log()
        stats = runner.run_crawl(
            "sample",
            work_dir,
            start_url=site.base_url,
            known_path=known,
            settings=runner.LOOPBACK_SETTINGS,
        )
        added, edited = "/2025/02/leila-w-lbher-7.html", "/2025/05/rihla-l-marrakech-2.html"
        assert "/search/label/leila-w-lbher?page=3" in site.requested_paths()
        assert chapter_paths(site.requested_paths()) == retried | {added, edited}
        assert (stats["items"], stats["skipped_unchanged"]) == (2, 34)
        changed, _, _ = runner.collect(work_dir)
        corpus, counts = runner.merge_corpus(corpus, changed)
        base = site.base_url

    assert counts == {
        "new": 1,
        "updated": 1,
        "unchanged": 34,
        "refetched_unchanged": 0,
        "total": 36,
    }
    texts = dict(zip(corpus["url"], corpus["raw_text"]))
    expected = {c.path: c.text for c in v2.extractable}
    assert {url.removeprefix(base): text for url, text in texts.items()} == expected
    assert texts[base + edited].startswith(
        "وصلنا لمحطة مراكش على الوحدة ونص، حيت التران تعطل شوية فبنجرير."
    )
    assert corpus.filter(corpus["url"] == base + added)["chapter_index"].to_list() == [7]
