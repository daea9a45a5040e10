"""What a new user sees after `make demo` and `make dev`, in a real browser.

`darija-assets run-all` (what `make demo` runs) fills a temporary DAGSTER_HOME, then
`dagster dev -w workspace.yaml` (what `make dev` runs) serves it. The GraphQL tests check
what the pages are built from; the browser tests drive Debian's Chromium with Playwright
over the pages themselves, and are skipped, with the reason, where /usr/bin/chromium is
missing (CI installs it: .ci/run; never `playwright install`, which downloads).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from darija_assets.partitions import EMOTIONS
from darija_assets_tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_browser
from darija_assets_tests.test_ui import REPO_ROOT, _graphql, dagster_dev

pytestmark = pytest.mark.slow

#: the UI loads its pages over GraphQL after the first paint; a loaded 2-core box is slow
WAIT_MS = 60_000
#: the demo's jobs, one run per partition (run-all's plan with its defaults)
DEMO_JOBS = {
    "corpus_job": 1,
    "classifier_job": 1,
    "therapy_job": len(EMOTIONS),
    "training_job": 1,
    "serving_job": 1,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`darija-assets run-all` into a fresh instance, as `make demo` runs it; returns
    (DAGSTER_HOME, data directory)."""
    home = tmp_path_factory.mktemp("dagster_home")
    data = tmp_path_factory.mktemp("data")
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "DARIJA_DATA_DIR": str(data)}
    for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "OPENAI_API_KEY", "DARIJA_SOURCES"):
        env.pop(key, None)
    cli = Path(sys.executable).with_name("darija-assets")
    done = subprocess.run(
        [str(cli), "run-all"], check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    # a failed run is fine here (the UI must show it); the command itself must complete
    assert "runs succeeded" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    return home, data


@pytest.fixture(scope="module")
def ui(demo):
    home, data = demo
    with dagster_dev(home, data) as port:
        yield port


def test_the_code_location_lists_every_run_of_the_demo(ui):
    """Overview and a job's page list the runs of the location's jobs: runs without the
    location's origin would be missing here."""
    for job, expected in DEMO_JOBS.items():
        data = _graphql(
            ui,
            f"""{{ pipelineOrError(params: {{pipelineName: "{job}",
                  repositoryName: "__repository__", repositoryLocationName: "darija_assets"}}) {{
                  ... on Pipeline {{ runs {{ runId }} }} }} }}""",
        )
        assert len(data["pipelineOrError"]["runs"]) == expected, job


def test_quota_met_is_recorded_per_emotion_partition(ui):
    data = _graphql(
        ui,
        """{ assetCheckExecutions(assetKey: {path: ["therapy_pairs"]}, checkName: "quota_met",
              limit: 50) { partition status } }""",
    )
    statuses = {e["partition"]: e["status"] for e in data["assetCheckExecutions"]}
    assert set(statuses) == set(EMOTIONS)
    # the demo's offline teacher cannot meet every quota: the UI must say where
    assert "FAILED" in statuses.values()
    assert "SUCCEEDED" in statuses.values()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


def _open(page, port: int, path: str) -> None:
    """Open a UI page and dismiss the newsletter dialog a fresh browser profile gets."""
    page.goto(f"http://127.0.0.1:{port}{path}")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # the dialog shows once per browser profile, after the page has loaded its data
    with contextlib.suppress(PlaywrightTimeout):
        page.get_by_role("button", name="Skip").click(timeout=10_000)


@needs_browser
def test_the_lineage_shows_every_group(ui, page):
    _open(page, ui, "/asset-groups")
    page.get_by_text("Global asset lineage").wait_for()
    body = page.inner_text("body")
    for group in ("corpus", "labels", "therapy", "training", "serving", "classifier"):
        assert group in body, group


@needs_browser
@pytest.mark.parametrize(
    "asset,key", [("teacher_labels", "label_distribution"), ("therapy_pairs", "all_emotions")]
)
def test_the_asset_page_shows_a_chart_image(ui, page, asset, key):
    _open(page, ui, f"/assets/{asset}")
    row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
    row.get_by_text("[Show Markdown]").click()
    image = page.get_by_role("dialog").locator("img").first
    image.wait_for()
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    width, height = image.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    assert width > 200 and height > 100  # decoded and drawn, not a broken image


@needs_browser
def test_the_check_shows_failed_on_the_partitions_that_failed(ui, page):
    data = _graphql(
        ui,
        """{ assetCheckExecutions(assetKey: {path: ["therapy_pairs"]}, checkName: "quota_met",
              limit: 50) { partition status } }""",
    )
    failed = sum(e["status"] == "FAILED" for e in data["assetCheckExecutions"])
    assert failed
    _open(page, ui, "/assets/therapy_pairs?view=checks&checkDetail=quota_met")
    page.get_by_text("quota_met").first.click()
    page.locator("button[role=tab]", has_text="Partitions").click()
    page.get_by_text(f"Failed ({failed})").wait_for()
    page.get_by_text(f"Passed ({len(EMOTIONS) - failed})").wait_for()


@needs_browser
def test_the_overview_lists_the_demos_runs(ui, page):
    _open(page, ui, "/overview/jobs")
    page.get_by_text("therapy_job").first.wait_for()
    for job in DEMO_JOBS:
        link = page.locator(f'a[href="/locations/darija_assets/jobs/{job}"]')
        row = page.locator("div[data-index]", has=link).first
        # a job with runs shows when its latest run started; one without shows nothing
        assert "ago" in row.inner_text(), f"{job}: {row.inner_text()!r}"
