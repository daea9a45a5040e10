"""Run the ``qesa`` crawl as a subprocess in a per-source work directory, and read it back.

No Dagster and no Scrapy import here: the Dagster asset launches ``crawl_command(...)``
with ``PipesSubprocessClient`` (cancel = SIGINT = Scrapy's graceful, resumable stop), or
calls ``run_crawl`` directly; tests and scripts use ``run_crawl``. A subprocess, because
Twisted's reactor cannot be restarted inside a long-lived process.

How a crawl continues after an interruption (``prepare_work_dir`` decides, from state.json):

- ``resume``: the last run was stopped by SIGINT and closed cleanly, so Scrapy's JOBDIR
  (pending requests, seen fingerprints) is intact and the crawl picks up from it.
- ``recover``: the last run died without closing (kill -9, OOM, power). Scrapy only
  saves its JOBDIR queue state on a clean close, so it is discarded; the crawl restarts
  from the archive list (cheap listing pages) and skips every chapter already in
  items.jsonl, which was flushed line by line. Nothing lost, nothing fetched twice.
- ``new``: nothing there, or the last crawl finished: a new crawl starts. Its quarantine
  and stats are cleared; its chapters move to unwritten.jsonl, since the caller may have
  been killed after the crawl ended and before it wrote them into the corpus table;
  markers.jsonl is kept.

Closing that window: the caller passes ``unwritten_rows(work_dir, table)`` (the moved
chapters the table does not hold yet) into ``write_known_file``, so the crawl skips them,
and merges them with the crawl's own rows. Nothing a finished crawl fetched is fetched again.

Incremental re-crawls: pass ``known_path``, a JSON ``{url: content_hash}`` of the corpus
so far (``write_known_file``). Listing pages are always fetched; a known chapter is
skipped while its listing marker (the "updated" stamp beside its link) equals the one
recorded when it was crawled, so an edited chapter is fetched again and a new one is
fetched for the first time. ``merge_corpus`` then merges by URL and counts new, updated
and unchanged rows. Pages that were quarantined are retried by every crawl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from darija_assets.crawler.workdir import CORPUS_FIELDS, QUARANTINE_FIELDS, WorkDir, read_jsonl
from darija_assets.storage import write_json, write_jsonl

SPIDER = "qesa"
CORPUS_SCHEMA = {field: pl.Utf8 for field in CORPUS_FIELDS} | {"chapter_index": pl.Int64}
QUARANTINE_SCHEMA = {field: pl.Utf8 for field in QUARANTINE_FIELDS}
#: settings for crawling the sample site over loopback: no politeness delay needed there
LOOPBACK_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
}


class CrawlError(RuntimeError):
    """The crawl could not run, did not finish, or extracted nothing (the message says which)."""


def prepare_work_dir(work_dir: Path | str) -> str:
    """Get the work directory ready for the next run; returns "new", "resume" or "recover"."""
    work = WorkDir(work_dir)
    lock = work.try_lock()
    if lock is None:
        raise CrawlError(f"a crawl is already running in {work.root}")
    try:
        state = (work.read_state() or {}).get("state")
        if state == "shutdown":
            return "resume"
        shutil.rmtree(work.job_dir, ignore_errors=True)
        if state == "running":
            return "recover"
        _carry_unwritten(work)
        for stale in (
            work.quarantine,
            work.stats,
            work.runs,
            work.state,
            work.log_file,
        ):
            stale.unlink(missing_ok=True)
        return "new"
    finally:
        lock.close()


def _carry_unwritten(work: WorkDir) -> None:
    """Move the last crawl's chapters into unwritten.jsonl (later rows win by URL).

    Written in full before items.jsonl goes, so a kill in between leaves them in both
    places, which the next call folds together again.
    """
    if not work.items.exists():
        return
    rows = {row["url"]: row for path in (work.unwritten, work.items) for row in read_jsonl(path)}
    write_jsonl(list(rows.values()), work.unwritten)
    work.items.unlink()


def unwritten_rows(work_dir: Path | str, table: pl.DataFrame | None) -> pl.DataFrame:
    """Chapters of earlier finished crawls that ``table`` (the corpus so far) does not hold.

    A row counts as written when the table has its URL with the same content hash, or a
    later crawl of that URL; written rows are dropped from unwritten.jsonl for good.
    Returns CORPUS_SCHEMA rows, to be passed to ``write_known_file`` and merged.
    """
    work = WorkDir(work_dir)
    rows = pl.DataFrame(list(read_jsonl(work.unwritten)), schema=CORPUS_SCHEMA, orient="row")
    if table is None or rows.is_empty():
        return rows
    held = table.select(
        "url", table_hash=pl.col("content_hash"), table_crawled_at=pl.col("crawled_at")
    )
    pending = (
        rows.join(held, on="url", how="left")
        .filter(
            pl.col("table_hash").is_null()
            | (
                (pl.col("table_hash") != pl.col("content_hash"))
                & (pl.col("table_crawled_at") < pl.col("crawled_at"))
            )
        )
        .select(CORPUS_SCHEMA.keys())
    )
    if pending.height < rows.height:
        write_jsonl(pending.to_dicts(), work.unwritten)
    return pending


def crawl_command(
    source: str,
    work_dir: Path | str,
    start_url: str | None = None,
    known_path: Path | str | None = None,
    profile: str = "qesa",
    settings: Mapping[str, Any] | None = None,
) -> list[str]:
    """The command line of one crawl run (run it with ``crawl_env()``, after ``prepare_work_dir``)."""
    work = WorkDir(work_dir)
    command = [
        sys.executable, "-m", "darija_assets.crawler", "crawl", SPIDER,
        "-a", f"source={source}",
        "-a", f"profile={profile}",
        "-s", f"DARIJA_WORK_DIR={work.root}",
        "-s", f"JOBDIR={work.job_dir}",
    ]  # fmt: skip
    if start_url:
        command += ["-a", f"start_url={start_url}"]
    if known_path:
        command += ["-s", f"DARIJA_KNOWN_FILE={Path(known_path).resolve()}"]
    for name, value in (settings or {}).items():
        command += ["-s", f"{name}={value}"]
    return command


def crawl_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the crawl subprocess: our package importable from any working directory."""
    env = dict(os.environ if base is None else base)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def start_crawl(
    source: str, work_dir: Path | str, env: Mapping[str, str] | None = None, **options: Any
) -> tuple[subprocess.Popen, str]:
    """Prepare the work directory and start the crawl; returns the process and the mode.

    ``env`` is the base environment (default: this process's); see ``crawl_env``.
    """
    mode = prepare_work_dir(work_dir)
    work = WorkDir(work_dir)
    with open(work.log_file, "ab") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            crawl_command(source, work.root, **options),
            env=crawl_env(env),
            cwd=work.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, mode


def run_crawl(
    source: str,
    work_dir: Path | str,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run one crawl to its end; returns its stats (plus ``mode``). Raises CrawlError on failure.

    ``options`` are ``crawl_command``'s: start_url, known_path, profile, settings.
    """
    process, mode = start_crawl(source, work_dir, env=env, **options)
    try:
        returncode = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise CrawlError(f"crawl of {source!r} exceeded {timeout_s}s; rerun to resume it") from None
    work = WorkDir(work_dir)
    if returncode != 0:
        raise CrawlError(
            f"crawl of {source!r} exited with {returncode}; log tail:\n{_tail(work.log_file)}"
        )
    return {"mode": mode, **check_finished(work)}


def check_finished(work_dir: Path | str | WorkDir) -> dict[str, Any]:
    """The last run's stats if it finished and extracted something, else CrawlError."""
    work = work_dir if isinstance(work_dir, WorkDir) else WorkDir(work_dir)
    state = (work.read_state() or {}).get("state")
    if state != "finished" or not work.stats.exists():
        raise CrawlError(
            f"crawl in {work.root} has not finished (state {state!r}); run it again to continue"
        )
    stats = _read_json(work.stats)
    if stats.get("failure"):
        raise CrawlError(stats["failure"])
    return stats


def collect(
    work_dir: Path | str, check: bool = True
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """The crawl's chapters (one row per URL), its quarantine rows and its stats.

    With ``check`` (the default) a crawl that has not finished, or extracted nothing,
    raises CrawlError instead of handing back a partial corpus. The stats are the last
    run's, plus ``runs`` (how many runs this crawl took), ``items_total`` and
    ``quarantined_total`` over all of them.
    """
    work = WorkDir(work_dir)
    stats = (
        check_finished(work) if check else (_read_json(work.stats) if work.stats.exists() else {})
    )
    items = pl.DataFrame(list(read_jsonl(work.items)), schema=CORPUS_SCHEMA, orient="row")
    items = items.unique(subset="url", keep="last", maintain_order=True)
    quarantine = pl.DataFrame(
        list(read_jsonl(work.quarantine)), schema=QUARANTINE_SCHEMA, orient="row"
    )
    # A page quarantined by an earlier run and kept by a later one is not bad any more.
    quarantine = quarantine.unique(subset="url", keep="last", maintain_order=True).filter(
        ~pl.col("url").is_in(items["url"].implode())
    )
    stats = dict(stats)
    stats.update(
        runs=sum(1 for _ in read_jsonl(work.runs)),
        items_total=items.height,
        quarantined_total=quarantine.height,
    )
    return items, quarantine, stats


def write_known_file(
    previous: pl.DataFrame | None, path: Path | str, unwritten: pl.DataFrame | None = None
) -> Path:
    """Write the corpus's ``{url: content_hash}`` for the next crawl's ``known_path``;
    ``unwritten`` rows (see ``unwritten_rows``) count as held, over the table's."""
    known = {}
    for frame in (previous, unwritten):
        if frame is not None:
            known.update(zip(frame["url"].to_list(), frame["content_hash"].to_list()))
    return write_json(known, Path(path))


def merge_corpus(
    previous: pl.DataFrame | None, new_rows: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Merge freshly crawled rows into the previous corpus by URL.

    Returns the merged table (sorted by story and chapter; CORPUS_SCHEMA plus ``speaker``,
    null where the rows had none) and counts: ``new`` (URL not
    seen before), ``updated`` (content hash changed; the new row replaces the old),
    ``unchanged`` (kept as they were: not re-crawled, or re-crawled with the same hash;
    ``refetched_unchanged`` says how many of them were re-crawled) and ``total``.
    """
    # Chat imports add a speaker pseudonym; crawls and tables written before it have none.
    schema = CORPUS_SCHEMA | {"speaker": pl.Utf8}

    def conform(frame: pl.DataFrame) -> pl.DataFrame:
        if "speaker" not in frame.columns:
            frame = frame.with_columns(speaker=pl.lit(None, pl.Utf8))
        return frame.select(schema.keys()).cast(schema)

    new_rows = conform(new_rows).unique(subset="url", keep="last", maintain_order=True)
    previous = conform(pl.DataFrame(schema=schema) if previous is None else previous)
    old_hash = previous.select("url", pl.col("content_hash").alias("old_hash"))
    joined = new_rows.join(old_hash, on="url", how="left")
    is_new = pl.col("old_hash").is_null()
    changed = joined.filter(is_new | (pl.col("old_hash") != pl.col("content_hash"))).drop(
        "old_hash"
    )
    merged = pl.concat([previous.filter(~pl.col("url").is_in(changed["url"].implode())), changed])
    merged = merged.sort(["source", "story", "chapter_index", "url"], nulls_last=True)
    n_new = joined.filter(is_new).height
    n_updated = changed.height - n_new
    counts = {
        "new": n_new,
        "updated": n_updated,
        "unchanged": previous.height - n_updated,
        "refetched_unchanged": joined.height - changed.height,
        "total": merged.height,
    }
    return merged, counts


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
