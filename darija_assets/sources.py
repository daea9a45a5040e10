"""The source registry: every place Darija text comes from, one `source` partition each.

Built in: ``sample`` (the bundled mirror site, crawled over loopback, the embedded
default) and ``9esa`` (the live 9esa.com site). More sources come from a JSON file
named by $DARIJA_SOURCES (a list of objects with the fields of ``Source``), so a
team adds a site of the same shape, or a dataset file, without touching code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SOURCES_ENV = "DARIJA_SOURCES"


@dataclass(frozen=True)
class Source:
    name: str
    #: "sample" (bundled site served on 127.0.0.1), "web" (a live site), "file" (a dataset file)
    kind: str
    #: site profile for crawled kinds (see crawler/profiles/)
    profile: str | None = None
    start_url: str | None = None
    #: for kind "file": a .jsonl, .csv, .txt or a WhatsApp .txt export
    path: str | None = None
    #: re-crawled by the daily schedule
    recrawl: bool = False
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def crawled(self) -> bool:
        return self.kind in ("sample", "web")


BUILTIN_SOURCES: tuple[Source, ...] = (
    Source(
        name="sample",
        kind="sample",
        profile="qesa",
        description="Bundled Darija mirror site in the 9esa.com shape, served on 127.0.0.1.",
    ),
    Source(
        name="9esa",
        kind="web",
        profile="qesa",
        start_url="https://www.9esa.com/search?view=list",
        recrawl=True,
        description="9esa.com, Moroccan Darija stories (live site).",
    ),
)


def load_sources() -> dict[str, Source]:
    """Built-in sources plus those declared in $DARIJA_SOURCES, by name."""
    sources = {s.name: s for s in BUILTIN_SOURCES}
    extra_file = os.environ.get(SOURCES_ENV)
    if extra_file:
        entries = json.loads(Path(extra_file).read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError(f"{SOURCES_ENV}={extra_file} must hold a JSON list of sources")
        for entry in entries:
            source = Source(**entry)
            if source.kind not in ("sample", "web", "file"):
                raise ValueError(f"source {source.name!r}: unknown kind {source.kind!r}")
            if source.kind == "file" and not source.path:
                raise ValueError(f"source {source.name!r}: kind 'file' needs a 'path'")
            sources[source.name] = source
    return sources


def get_source(name: str) -> Source:
    sources = load_sources()
    if name not in sources:
        raise KeyError(f"unknown source {name!r}; known: {sorted(sources)}")
    return sources[name]
