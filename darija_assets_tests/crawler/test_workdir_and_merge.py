"""The plain-Python parts of resumable, incremental crawling, without a crawl.

Each piece here decides whether a chapter is lost, fetched twice or counted wrongly, so
the edge cases (torn lines after kill -9, stale state, marker rules) are pinned down.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from darija_assets.crawler import runner
from darija_assets.crawler.workdir import SkipPolicy, WorkDir, read_jsonl, repair_torn_tail


def rows(*specs: tuple[str, str, str]) -> pl.DataFrame:
    """Corpus rows from (url, raw_text, crawled_at)."""
    return pl.DataFrame(
        [
            {
                "url": url, "title": url, "raw_text": text, "publish_date": None, "category": "c",
                "story": "s", "chapter_index": i, "content_hash": f"hash-of-{text}",
                "crawled_at": crawled_at, "source": "sample",
            }
            for i, (url, text, crawled_at) in enumerate(specs, start=1)
        ],
        schema=runner.CORPUS_SCHEMA,
    )  # fmt: skip


def test_merge_by_url_counts_new_updated_and_unchanged():
    previous = rows(("u/a", "a", "day1"), ("u/b", "b", "day1"), ("u/c", "c", "day1"))
    crawled = rows(("u/b", "b", "day2"), ("u/c", "c2", "day2"), ("u/d", "d", "day2"))
    merged, counts = runner.merge_corpus(previous, crawled)
    assert counts == {"new": 1, "updated": 1, "unchanged": 2, "refetched_unchanged": 1, "total": 4}
    by_url = {r["url"]: r for r in merged.to_dicts()}
    assert by_url["u/c"]["raw_text"] == "c2"
    assert by_url["u/b"]["crawled_at"] == "day1"  # identical content keeps its first row
    assert by_url["u/a"]["crawled_at"] == "day1"


def test_merge_into_nothing_deduplicates_by_url_keeping_the_last_row():
    merged, counts = runner.merge_corpus(None, rows(("u/a", "old", "t1"), ("u/a", "new", "t2")))
    assert merged["raw_text"].to_list() == ["new"]
    assert counts == {"new": 1, "updated": 0, "unchanged": 0, "refetched_unchanged": 0, "total": 1}


def test_skip_policy_uses_this_crawls_items_and_listing_markers():
    policy = SkipPolicy(
        crawled={"u/done"},
        known={"u/a": "h", "u/b": "h", "u/c": "h"},
        markers={"u/a": "m1", "u/b": "m1"},
    )
    assert policy.decide("u/done", "anything") == "already_crawled"
    assert policy.decide("u/a", "m1") == "unchanged"
    assert policy.decide("u/b", "m2") is None  # edited since: fetch again
    assert policy.decide("u/c", "m1") is None  # no recorded marker yet: fetch once
    assert policy.decide("u/c", None) == "unchanged"  # the listing shows no marker at all
    assert policy.decide("u/new", "m1") is None


def test_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"url": "a"}\n{"url": "b"}\n{"url": "c", "ti', encoding="utf-8")
    assert [r["url"] for r in read_jsonl(path)] == ["a", "b"]
    repair_torn_tail(path)
    assert path.read_text(encoding="utf-8") == '{"url": "a"}\n{"url": "b"}\n'
    path.write_text('{"url": "a"}\n{"url": \n{"url": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="items.jsonl:2: corrupt JSON line"):
        list(read_jsonl(path))


@pytest.mark.parametrize(
    ("state", "mode", "kept"),
    [
        # A new crawl keeps the last one's chapters until the table holds them.
        (None, "new", {"markers.jsonl", "unwritten.jsonl"}),
        ("finished", "new", {"markers.jsonl", "unwritten.jsonl"}),
        (
            "running",
            "recover",
            {
                "markers.jsonl",
                "items.jsonl",
                "quarantine.jsonl",
                "stats.json",
                "runs.jsonl",
                "state.json",
            },
        ),
        (
            "shutdown",
            "resume",
            {
                "markers.jsonl",
                "items.jsonl",
                "quarantine.jsonl",
                "stats.json",
                "runs.jsonl",
                "state.json",
                "job",
            },
        ),
    ],
)
def test_prepare_work_dir_picks_the_mode_from_the_last_runs_state(tmp_path, state, mode, kept):
    work = WorkDir(tmp_path)
    for path in (work.quarantine, work.markers, work.stats, work.runs):
        path.write_text("{}\n", encoding="utf-8")
    work.items.write_text('{"url": "u/a"}\n', encoding="utf-8")
    (work.job_dir / "requests.queue").mkdir(parents=True)
    if state:
        work.state.write_text(json.dumps({"state": state}), encoding="utf-8")
    assert runner.prepare_work_dir(tmp_path) == mode
    assert {p.name for p in tmp_path.iterdir()} - {"lock"} == kept


def test_a_running_crawl_keeps_others_out_of_its_work_dir(tmp_path):
    held = WorkDir(tmp_path).try_lock()
    try:
        with pytest.raises(runner.CrawlError, match="already running"):
            runner.prepare_work_dir(tmp_path)
    finally:
        held.close()
    assert runner.prepare_work_dir(tmp_path) == "new"


def test_collect_refuses_an_unfinished_crawl(tmp_path):
    WorkDir(tmp_path).state.write_text('{"state": "running"}', encoding="utf-8")
    with pytest.raises(runner.CrawlError, match="has not finished \\(state 'running'\\)"):
        runner.collect(tmp_path)
