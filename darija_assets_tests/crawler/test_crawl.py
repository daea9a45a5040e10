"""A real Scrapy crawl of the bundled Darija site over loopback: what lands in the corpus.

Expectations come from the site's content (``sample_site.manifest``, built from
stories.json), never from the crawler's own output: 36 chapters of which one has an
empty body, so 35 chapters are kept; a 404 link and a robots-disallowed link are
quarantined with the empty chapter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from darija_assets.crawler import runner
from darija_assets.crawler.profiles import PROFILES_DIR, ProfileError, load_profile
from darija_assets.crawler.workdir import CORPUS_FIELDS
from darija_assets.sample_site import manifest
from darija_assets_tests import REPO_ROOT

SITE = manifest(1)


def test_every_chapter_is_crawled_once_with_its_metadata(full_crawl):
    assert len(SITE.extractable) == 35
    assert full_crawl.items.height == 35
    assert full_crawl.items["url"].n_unique() == 35
    for chapter in SITE.extractable:
        row = full_crawl.item(chapter.path)
        assert row["raw_text"] == chapter.text
        assert row["title"] == chapter.title
        assert row["story"] == chapter.story
        assert row["category"] == chapter.category
        assert row["chapter_index"] == chapter.chapter_index
        assert row["publish_date"] == chapter.publish_date
        assert row["source"] == "sample"
        assert row["content_hash"] == hashlib.sha256(chapter.text.encode("utf-8")).hexdigest()
        crawled_at = dt.datetime.fromisoformat(row["crawled_at"])
        assert crawled_at.utcoffset() == dt.timedelta(0)


def test_pagination_is_followed_to_the_last_page(full_crawl):
    requested = {r.path for r in full_crawl.requests}
    assert set(SITE.listing_pages) <= requested
    assert "/search/label/dar-lmhjoura?page=3" in requested
    # The last chapters of each story sit on the last listing page.
    assert full_crawl.item("/2025/07/lghorba-6.html")["chapter_index"] == 6
    assert full_crawl.stats["pages"] == {"list": 1, "story": 14, "chapter": 37}


def test_robots_txt_is_fetched_and_obeyed(full_crawl):
    paths = [r.path for r in full_crawl.requests]
    assert paths[0] == "/robots.txt"
    assert SITE.disallowed_links == ["/private/dar-lmhjoura-nihaya.html"]
    assert not [p for p in paths if p.startswith("/private/")]
    assert full_crawl.stats["robots_denied"] == 1
    assert {r.user_agent for r in full_crawl.requests} == {
        "darija-assets/0.1 (Darija NLP research crawler; +https://example.org/darija-assets/crawler)"
    }


def test_windows_1256_page_is_decoded_to_the_exact_darija_text(full_crawl):
    row = full_crawl.item("/2025/02/dar-lmhjoura-3.html")
    assert row["raw_text"].startswith("دخلنا للبيت الكبيرة، والغبرة فكل بلاصة.")
    assert row["raw_text"].endswith("ماقدرتش نتحرك من الخلعة.")
    assert row["title"] == "الدار المهجورة - الجزء 3"


def test_broken_html_still_yields_its_text(full_crawl):
    row = full_crawl.item("/2025/03/weld-derb-2.html")
    assert row["raw_text"].split("\n") == [
        "نهار من النهارات، واحد الطوموبيل كحلة وقفات قدامو. هبط منها راجل لابس مزيان وجبد ليه الكلينكس من يدو ورماه فالأرض.",
        "قال ليه: سير تقرا عوض ماتبقى تسعى! حمزة تزعف بزاف، الدم طلع ليه للراس. بغا يجاوبو ولكن الكلمات تحبسو فحلقو.",
    ]
    assert row["publish_date"] == "2025-03-09"


def test_bad_pages_are_quarantined_with_their_reasons(full_crawl):
    rows = {
        r["url"].removeprefix(full_crawl.site_base): r for r in full_crawl.quarantine.to_dicts()
    }
    assert {path: (r["reason"], r["stage"]) for path, r in rows.items()} == {
        "/2025/05/l3ers-dyal-khalti-5.html": (
            "empty body: the body selector matched but holds no text",
            "chapter",
        ),
        "/2025/04/weld-derb-risala.html": ("HTTP 404", "chapter"),
        "/private/dar-lmhjoura-nihaya.html": ("disallowed by robots.txt", "chapter"),
    }
    assert full_crawl.stats["quarantined"] == 3
    assert full_crawl.stats["status_counts"] == {"200": 52, "404": 1}


def test_work_dir_files_are_utf8_without_escapes(full_crawl):
    raw = (full_crawl.work_dir / "items.jsonl").read_bytes()
    assert "الدار المهجورة".encode() in raw
    assert b"\\u06" not in raw


def test_progress_reaches_dagster_through_pipes(full_crawl):
    methods = [m["method"] for m in full_crawl.pipes_messages]
    assert methods[0] == "opened" and methods[-1] == "closed"
    logs = [m["params"]["message"] for m in full_crawl.pipes_messages if m["method"] == "log"]
    assert [line for line in logs if line.endswith("chapters crawled")] == [
        "10 chapters crawled",
        "20 chapters crawled",
        "30 chapters crawled",
    ]
    assert any("quarantined" in line and "HTTP 404" in line for line in logs)
    (summary,) = [
        m["params"]["payload"]["crawl_summary"]
        for m in full_crawl.pipes_messages
        if m["method"] == "report_custom_message"
    ]
    assert summary["items"] == 35 and summary["finish_reason"] == "finished"


def test_standalone_scrapy_crawl_from_repo_root_gives_the_same_chapters(full_crawl, site, tmp_path):
    out = tmp_path / "corpus.jsonl"
    scrapy_script = Path(sys.executable).with_name("scrapy")
    command = [str(scrapy_script)] if scrapy_script.exists() else [sys.executable, "-m", "scrapy"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPY_", "DAGSTER_PIPES"))}
    subprocess.run(
        [*command, "crawl", "qesa", "-o", str(out), "-a", f"start_url={site.start_url}",
         "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(list(row) == list(CORPUS_FIELDS) for row in rows)
    standalone = {row["url"].removeprefix(site.base_url): row["raw_text"] for row in rows}
    dagster_run = {
        row["url"].removeprefix(full_crawl.site_base): row["raw_text"]
        for row in full_crawl.items.to_dicts()
    }
    assert standalone == dagster_run
    assert {row["source"] for row in rows} == {"qesa"}


@pytest.mark.parametrize(
    ("selector", "broken", "expected"),
    [
        (
            "chapter_links",
            "#daily-posts div div.entry h2 a",
            "matched nothing on any of 14 story page(s)",
        ),
        ("body", "#content div.story-text > div", "matched nothing on any of 36 chapter page(s)"),
    ],
)
def test_profile_that_extracts_nothing_fails_naming_the_selector(
    site, tmp_path, selector, broken, expected
):
    profile = json.loads((PROFILES_DIR / "qesa.json").read_text(encoding="utf-8"))
    profile["selectors"][selector] = broken
    profile_path = tmp_path / "changed_markup.json"
    profile_path.write_text(json.dumps(profile), encoding="utf-8")
    with pytest.raises(runner.CrawlError) as failure:
        runner.run_crawl(
            "sample", tmp_path / "work", start_url=site.base_url, profile=str(profile_path),
            settings=runner.LOOPBACK_SETTINGS, timeout_s=120,
        )  # fmt: skip
    assert f"selector {selector} {broken!r} {expected}" in str(failure.value)
    _, quarantine, _ = runner.collect(tmp_path / "work", check=False)
    assert quarantine.height > 0
    assert set(quarantine["reason"]) >= {f"selector {selector} {broken!r} matched nothing"}


def test_profiles_load_by_name_or_path_and_reject_bad_ones(tmp_path):
    profile = load_profile("qesa")
    assert profile.list_url(None) == "https://www.9esa.com/search?view=list"
    assert profile.list_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/search?view=list"
    assert profile.list_url("http://127.0.0.1:9/other?x=1") == "http://127.0.0.1:9/other?x=1"
    with pytest.raises(ProfileError, match=r"'nosuch' not found \(named profiles: \['qesa'\]\)"):
        load_profile("nosuch")
    incomplete = tmp_path / "incomplete.json"
    shutil.copy(PROFILES_DIR / "qesa.json", incomplete)
    data = json.loads(incomplete.read_text(encoding="utf-8"))
    del data["selectors"]["body"]
    incomplete.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"missing selectors \['body'\]"):
        load_profile(str(incomplete))


def test_oversized_start_page_fails_the_crawl_with_the_reason(site, tmp_path):
    # Every sample page is over 1 kB: a 1000-byte limit stops the crawl at the archive list.
    with pytest.raises(runner.CrawlError) as failure:
        runner.run_crawl(
            "sample",
            tmp_path / "work",
            start_url=site.base_url,
            settings=dict(runner.LOOPBACK_SETTINGS, DOWNLOAD_MAXSIZE=1000, DOWNLOAD_WARNSIZE=500),
            timeout_s=120,
        )
    message = str(failure.value)
    assert "no chapter kept, 1 page(s) quarantined, the first: " in message
    assert f"{site.start_url}: download failed: " in message
    assert "larger than download max size (1000)" in message
