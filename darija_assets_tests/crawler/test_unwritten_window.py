"""A kill after the crawl finished and before raw_corpus wrote its table refetches nothing.

The real thing first: raw_corpus materialized through Dagster for a web source (the sample
site on a free port), the process killed with SIGKILL where the table would be written,
then materialized again. Then the rules that make it so, on the work directory alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from darija_assets.crawler import runner
from darija_assets.crawler.workdir import WorkDir, read_jsonl
from darija_assets.sample_site import manifest, serve_sample_site
from darija_assets_tests import REPO_ROOT
from darija_assets_tests.crawler.test_workdir_and_merge import rows
from darija_assets_tests.metadata_blocks import read_block

CHILD = Path(__file__).with_name("materialize_child.py")
SITE = manifest(1)


def materialize(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHILD), "window", *flags],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the killed run's exit status is asserted
    )


def test_rerun_after_a_kill_between_crawl_end_and_table_write_fetches_no_chapter(tmp_path):
    data = tmp_path / "data"
    table = data / "tables" / "raw_corpus" / "window.parquet"
    work = WorkDir(data / "work" / "raw_corpus" / "window")
    with serve_sample_site() as site:
        sources = tmp_path / "sources.json"
        sources.write_text(
            json.dumps(
                [{"name": "window", "kind": "web", "profile": "qesa", "start_url": site.start_url}]
            ),
            encoding="utf-8",
        )
        env = dict(os.environ, DARIJA_DATA_DIR=str(data), DARIJA_SOURCES=str(sources))
        env.pop("DAGSTER_HOME", None)

        killed = materialize(env, "--die-before-write")
        assert killed.returncode == -9, killed.stderr[-3000:]
        assert not table.exists()
        assert work.read_state()["state"] == "finished"
        fetched_first = {p for p in site.requested_paths() if p.endswith(".html")}
        assert {c.path for c in SITE.extractable} <= fetched_first

        site.clear_log()
        rerun = materialize(env)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        refetched = {p for p in site.requested_paths() if p.endswith(".html")}
        base = site.base_url

    kept = {c.path for c in SITE.extractable}
    # Only the pages the first crawl quarantined (a 404 link, an empty chapter) are retried.
    assert refetched & kept == set()
    assert refetched == fetched_first - kept
    corpus = pl.read_parquet(table)
    assert {url.removeprefix(base) for url in corpus["url"]} == kept
    assert dict(zip(corpus["url"], corpus["raw_text"])) == {
        base + c.path: c.text for c in SITE.extractable
    }
    metadata = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert metadata["chapters_new"] == len(kept) and metadata["chapters"] == len(kept)
    crawl = read_block(metadata["crawl"])
    assert crawl["unwritten_merged"] == len(kept)
    assert crawl["skipped_unchanged"] == len(kept)
    assert crawl["items"] == 0


def chapter(url: str, text: str, crawled_at: str) -> dict:
    return rows((url, text, crawled_at)).to_dicts()[0]


def write_items(work: WorkDir, *items: dict) -> None:
    work.items.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
    )


def test_a_finished_crawls_chapters_move_to_unwritten_not_away(tmp_path):
    work = WorkDir(tmp_path)
    write_items(work, chapter("u/a", "a", "t1"), chapter("u/b", "b", "t1"))
    work.state.write_text('{"state": "finished"}', encoding="utf-8")
    assert runner.prepare_work_dir(tmp_path) == "new"
    assert not work.items.exists()
    assert [r["url"] for r in read_jsonl(work.unwritten)] == ["u/a", "u/b"]

    # A kill after unwritten.jsonl was written and before items.jsonl went: folded again.
    write_items(work, chapter("u/b", "b2", "t2"), chapter("u/c", "c", "t2"))
    assert runner.prepare_work_dir(tmp_path) == "new"
    unwritten = {r["url"]: r["raw_text"] for r in read_jsonl(work.unwritten)}
    assert unwritten == {"u/a": "a", "u/b": "b2", "u/c": "c"}


def test_unwritten_rows_are_those_the_table_does_not_hold(tmp_path):
    work = WorkDir(tmp_path)
    write_items(
        work,
        chapter("u/in-table", "same", "t2"),
        chapter("u/newer-in-table", "old", "t2"),
        chapter("u/changed", "new", "t2"),
        chapter("u/missing", "m", "t2"),
    )
    runner.prepare_work_dir(tmp_path)
    assert runner.unwritten_rows(tmp_path, None)["url"].to_list() == [
        "u/in-table",
        "u/newer-in-table",
        "u/changed",
        "u/missing",
    ]
    table = rows(
        ("u/in-table", "same", "t1"),  # same content: written (or never changed)
        ("u/newer-in-table", "newest", "t3"),  # a later crawl is in the table
        ("u/changed", "old", "t1"),  # the table holds an older version
    )
    pending = runner.unwritten_rows(tmp_path, table)
    assert pending["url"].to_list() == ["u/changed", "u/missing"]
    # Written rows are dropped for good; the crawl then skips the rest as known.
    assert [r["url"] for r in read_jsonl(work.unwritten)] == ["u/changed", "u/missing"]
    known = json.loads(
        runner.write_known_file(table, tmp_path / "known.json", pending).read_text("utf-8")
    )
    assert known["u/changed"] == "hash-of-new" and known["u/missing"] == "hash-of-m"
    written, _ = runner.merge_corpus(table, pending)
    assert runner.unwritten_rows(tmp_path, written).is_empty()


@pytest.mark.parametrize("state", ["running", "shutdown"])
def test_an_interrupted_crawl_keeps_its_items_and_the_unwritten_rows(tmp_path, state):
    work = WorkDir(tmp_path)
    work.unwritten.write_text(json.dumps(chapter("u/a", "a", "t1")) + "\n", encoding="utf-8")
    write_items(work, chapter("u/b", "b", "t2"))
    work.state.write_text(json.dumps({"state": state}), encoding="utf-8")
    runner.prepare_work_dir(tmp_path)
    assert [r["url"] for r in read_jsonl(work.items)] == ["u/b"]
    assert runner.unwritten_rows(tmp_path, None)["url"].to_list() == ["u/a"]
