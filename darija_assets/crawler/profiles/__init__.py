"""Site profiles: the CSS/XPath selectors of one site shape, kept out of the spider's code.

A profile is a JSON file (``profiles/<name>.json``, or any path) with ``name``,
``start_url`` (the default list page), ``list_path`` (appended when ``start_url`` is a
bare site root) and ``selectors``. A selector is CSS unless it starts with ``xpath:``.

Required selectors, one per crawl stage: ``story_links`` (archive list -> stories),
``chapter_links`` (a story's list page -> chapters), ``next_page`` (the "Next" link of a
story's list page), ``body`` (the chapter text container). Optional: ``chapter_marker``
(evaluated relative to each chapter link: a stamp that changes when the chapter is edited,
used by incremental re-crawls), ``story_title``, ``title``, ``publish_date``, ``category``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

PROFILES_DIR = Path(__file__).parent
REQUIRED_SELECTORS = ("story_links", "chapter_links", "next_page", "body")
OPTIONAL_SELECTORS = ("chapter_marker", "story_title", "title", "publish_date", "category")


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class Profile:
    name: str
    start_url: str
    list_path: str
    selectors: dict[str, str]
    path: str

    def list_url(self, start_url: str | None) -> str:
        """The archive list URL: ``start_url`` as given, or with ``list_path`` if it is a site root."""
        url = start_url or self.start_url
        if urlsplit(url).path in ("", "/") and not urlsplit(url).query:
            return urljoin(url, self.list_path)
        return url

    def selector(self, name: str) -> str | None:
        return self.selectors.get(name)


def load_profile(name_or_path: str) -> Profile:
    """A profile by name (``profiles/<name>.json``) or by path to a JSON file."""
    candidate = Path(name_or_path)
    if candidate.suffix != ".json":
        candidate = PROFILES_DIR / f"{name_or_path}.json"
    if not candidate.is_file():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.json"))
        raise ProfileError(f"site profile {name_or_path!r} not found (named profiles: {known})")
    data = json.loads(candidate.read_text(encoding="utf-8"))
    selectors = data.get("selectors") or {}
    missing = [s for s in REQUIRED_SELECTORS if not selectors.get(s)]
    unknown = sorted(set(selectors) - set(REQUIRED_SELECTORS) - set(OPTIONAL_SELECTORS))
    if missing or unknown:
        raise ProfileError(
            f"profile {candidate}: missing selectors {missing}, unknown selectors {unknown}"
        )
    for field in ("name", "start_url", "list_path"):
        if not data.get(field):
            raise ProfileError(f"profile {candidate}: {field!r} is required")
    return Profile(
        name=data["name"],
        start_url=data["start_url"],
        list_path=data["list_path"],
        selectors=dict(selectors),
        path=str(candidate),
    )
