"""Where every asset partition lives on disk, and how it gets there safely.

Each asset partition is one Parquet file (or one directory for HF datasets and
adapters) under the data directory. Every write goes to a temporary sibling and
is renamed into place, so a killed process leaves either the old file or the new
one, never half of either.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # polars is cheap, but keep module import free of heavy work
    import polars as pl

DATA_DIR_ENV = "DARIJA_DATA_DIR"
DEFAULT_DATA_DIR = "data"


def data_dir() -> Path:
    """The root of all materialized data: $DARIJA_DATA_DIR, or ./data."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(df: pl.DataFrame, target: Path) -> Path:
    with atomic_path(target) as tmp:
        df.write_parquet(tmp)
    return target


def write_text(text: str, target: Path) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_json(obj: Any, target: Path) -> Path:
    return write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True), target)


def write_jsonl(rows: list[dict[str, Any]], target: Path) -> Path:
    return write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), target)


def replace_dir(built: Path, target: Path) -> Path:
    """Swap a fully built directory into place (the directory twin of ``atomic_path``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        _rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    if old.exists():
        _rmtree(old)
    return target


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class Layout:
    """Paths of asset partitions and their work directories under one data root.

    ``tables/<asset>/<partition>.parquet``   the materialized table
    ``work/<asset>/<partition>/``            resumable progress (JOBDIRs, checkpoints)
    ``artifacts/<asset>/<partition>/``       directory outputs (datasets, adapters)
    ``cache/``                               caches shared across partitions (LLM answers)
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root).resolve() if root else data_dir()

    def table(self, asset: str, partition: str) -> Path:
        return self.root / "tables" / asset / f"{partition}.parquet"

    def quarantine(self, asset: str, partition: str) -> Path:
        return self.root / "quarantine" / asset / f"{partition}.parquet"

    def work(self, asset: str, partition: str) -> Path:
        path = self.root / "work" / asset / partition
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifact(self, asset: str, partition: str) -> Path:
        return self.root / "artifacts" / asset / partition

    def cache(self, name: str) -> Path:
        path = self.root / "cache"
        path.mkdir(parents=True, exist_ok=True)
        return path / name

    def export(self, name: str) -> Path:
        return self.root / "exports" / name
