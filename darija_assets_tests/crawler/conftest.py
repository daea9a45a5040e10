"""Fixtures for the crawler tests: the sample site over loopback and one shared full crawl."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from dagster_pipes import encode_param

from darija_assets.crawler import runner
from darija_assets.sample_site import LoggedRequest, SampleSite, serve_sample_site


@pytest.fixture
def site():
    with serve_sample_site() as running:
        yield running


@dataclass
class CrawlResult:
    site_base: str
    requests: list[LoggedRequest]
    run_stats: dict
    items: pl.DataFrame
    quarantine: pl.DataFrame
    stats: dict
    work_dir: Path
    pipes_messages: list[dict]

    def item(self, path: str) -> dict:
        rows = self.items.filter(pl.col("url") == self.site_base + path).to_dicts()
        assert len(rows) == 1, f"expected exactly one row for {path}, got {len(rows)}"
        return rows[0]


def pipes_env(tmp: Path) -> dict[str, str]:
    """The two variables dagster's PipesSubprocessClient sets: a context and a message file."""
    context = {
        "asset_keys": ["raw_corpus"],
        "code_version_by_asset_key": None,
        "provenance_by_asset_key": None,
        "partition_key": "sample",
        "partition_key_range": None,
        "partition_time_window": None,
        "run_id": "test-run",
        "job_name": None,
        "retry_number": 0,
        "extras": {},
    }
    return dict(
        os.environ,
        DAGSTER_PIPES_CONTEXT=encode_param({"data": context}),
        DAGSTER_PIPES_MESSAGES=encode_param({"path": str(tmp / "pipes_messages.jsonl")}),
    )


@pytest.fixture(scope="module")
def full_crawl(tmp_path_factory) -> CrawlResult:
    """One complete crawl of site version 1, launched the way Dagster launches it (with Pipes).

    Shared by the tests that only read its results, to keep the file well under a minute.
    """
    tmp = tmp_path_factory.mktemp("full_crawl")
    work_dir = tmp / "work"
    with serve_sample_site() as running:
        running: SampleSite
        run_stats = runner.run_crawl(
            "sample", work_dir, start_url=running.base_url, settings=runner.LOOPBACK_SETTINGS,
            env=pipes_env(tmp), timeout_s=120,
        )  # fmt: skip
        requests = running.requests
        base = running.base_url
    items, quarantine, stats = runner.collect(work_dir)
    messages_file = tmp / "pipes_messages.jsonl"
    messages = [json.loads(line) for line in messages_file.read_text(encoding="utf-8").splitlines()]
    return CrawlResult(base, requests, run_stats, items, quarantine, stats, work_dir, messages)
