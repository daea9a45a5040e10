"""Render the bundled Darija story site, in the 9esa.com shape, into memory.

The stories live in ``stories.json`` (written for this project in Moroccan Darija).
This module turns them into the pages a crawler sees on the live site:

``/search?view=list``                 archive list   (``#listOfStories li div a``)
``/search/label/<slug>[?page=N]``     a story's chapter list, paged (``#daily-posts ...``,
                                      "Next" in ``#pager > a``)
``/<yyyy>/<mm>/<slug>-<n>.html``      one chapter   (``#content div.story-body > div``)
``/robots.txt``                       disallows ``/private/``, which a listing links to

Deliberate bad input, so the crawler's handling of the web's mess is tested for real:
a chapter served as windows-1256, a chapter with broken markup, a chapter with an empty
body, a listing link to a page that does not exist (404) and a listing link into the
robots-disallowed ``/private/`` area. ``manifest(version)`` describes all of it, so tests
derive their expectations from the content rather than from the crawler's output.

Version 2 of the site (for incremental re-crawls) adds one chapter at the end of a story
(growing its listing by a page) and edits one chapter, whose listing entry then shows a
new ``updated`` stamp, as a blog engine does.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

STORIES_FILE = Path(__file__).with_name("stories.json")
LIST_PATH = "/search?view=list"
DISALLOWED_PREFIX = "/private/"
ROBOTS_TXT = f"User-agent: *\nDisallow: {DISALLOWED_PREFIX}\n"
VERSIONS = (1, 2)


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Chapter:
    """One chapter as the site publishes it (``text`` is what a correct crawler extracts)."""

    path: str
    title: str
    story: str
    story_slug: str
    category: str
    chapter_index: int
    publish_date: str
    updated: str
    text: str
    encoding: str = "utf-8"
    broken_markup: bool = False

    @property
    def empty(self) -> bool:
        return not self.text


@dataclass
class Manifest:
    """What version N of the site contains, for tests and for the ``sample`` source's docs."""

    version: int
    chapters: list[Chapter]
    #: listing links that lead to a 404
    dead_links: list[str]
    #: listing links under the robots.txt-disallowed prefix (the page exists: only robots stops it)
    disallowed_links: list[str]
    #: every chapter-list page (``/search/label/...``), all pagination pages included
    listing_pages: list[str] = field(default_factory=list)

    @property
    def extractable(self) -> list[Chapter]:
        return [c for c in self.chapters if not c.empty]


@lru_cache(maxsize=1)
def _content() -> dict:
    return json.loads(STORIES_FILE.read_text(encoding="utf-8"))


def _chapters_for(story: dict, version: int, content: dict) -> list[Chapter]:
    """The story's chapters in reading order, with version 2's additions and edits applied."""
    raw = [dict(c) for c in story["chapters"]]
    updated: dict[int, str] = {}
    if version >= 2:
        v2 = content["version_2"]
        raw += [dict(c) for c in v2["added_chapters"] if c["story"] == story["slug"]]
        for change in v2["changed_chapters"]:
            if change["story"] == story["slug"]:
                raw[change["chapter_index"] - 1]["paragraphs"] = change["paragraphs"]
                updated[change["chapter_index"]] = change["updated"]
    first = dt.date.fromisoformat(story["first_date"])
    chapters = []
    for index, entry in enumerate(raw, start=1):
        published = first + dt.timedelta(days=7 * (index - 1))
        chapters.append(
            Chapter(
                path=f"/{published:%Y/%m}/{story['slug']}-{index}.html",
                title=f"{story['title']} - الجزء {index}",
                story=story["title"],
                story_slug=story["slug"],
                category=story["category"],
                chapter_index=index,
                publish_date=published.isoformat(),
                updated=updated.get(index, f"{published.isoformat()}T09:00:00Z"),
                text="" if entry.get("empty") else "\n".join(entry["paragraphs"]),
                encoding=entry.get("encoding", "utf-8"),
                broken_markup=entry.get("markup") == "broken",
            )
        )
    return chapters


def _listing_path(slug: str, page_number: int) -> str:
    base = f"/search/label/{slug}"
    return base if page_number == 1 else f"{base}?page={page_number}"


def _shell(title: str, body: str, charset: str = "utf-8") -> str:
    site = html.escape(_content()["site_title"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="ar" dir="rtl">\n<head>\n<meta charset="{charset}">\n'
        f"<title>{html.escape(title)} | {site}</title>\n</head>\n<body>\n"
        f'<div id="header"><a href="/">{site}</a> · <a href="{html.escape(LIST_PATH)}">'
        "كل القصص</a></div>\n"
        f"{body}\n"
        '<div id="footer">جميع الحقوق محفوظة</div>\n</body>\n</html>\n'
    )


def _chapter_html(chapter: Chapter) -> str:
    esc = html.escape
    if chapter.broken_markup:
        # Unclosed <p>, <div> and <font>, unquoted attributes, a stray closing tag and no
        # </body></html>: what old blog templates and copy-pasted posts look like.
        paragraphs = "".join(
            f"\n<p class=para><font color=#333>{esc(p)}" for p in chapter.text.split("\n")
        )
        return (
            "<!DOCTYPE html>\n<html lang=ar dir=rtl>\n<head><meta charset=utf-8>\n"
            f"<title>{esc(chapter.title)}</title>\n<body>\n<div id=content>\n"
            f"<h1 class=post-title>{esc(chapter.title)}</h1></span>\n"
            f'<abbr class=published title="{chapter.publish_date}">{chapter.publish_date}</abbr>\n'
            f"<span class=post-labels><a rel=tag>{esc(chapter.category)}</a></span>\n"
            f"<div class=story-body><div>{paragraphs}\n"
        )
    paragraphs = "".join(f"\n<p>{esc(p)}</p>" for p in chapter.text.split("\n") if p)
    body = (
        '<div id="content">\n<div class="post">\n'
        f'<h1 class="post-title">{esc(chapter.title)}</h1>\n'
        f'<div class="post-meta">نشرت في <abbr class="published" title="{chapter.publish_date}">'
        f"{chapter.publish_date}</abbr> · "
        f'<span class="post-labels">التصنيف: <a rel="tag">{esc(chapter.category)}</a></span></div>\n'
        '<div class="story-body"><div>'
        "<script>window.adsbygoogle = window.adsbygoogle || [];</script>"
        f"{paragraphs}\n</div></div>\n</div>\n</div>"
    )
    return _shell(chapter.title, body, charset=chapter.encoding)


def _listing_html(
    story: dict, entries: list[tuple[str, str, str]], page_number: int, pages: int
) -> str:
    esc = html.escape
    items = "".join(
        '\n<div class="post-outer"><div class="content">'
        f'<h2><a href="{esc(href)}">{esc(title)}</a></h2>'
        f'<abbr class="updated" title="{esc(updated)}">{esc(updated[:10])}</abbr>'
        "</div></div>"
        for href, title, updated in entries
    )
    pager = []
    if page_number > 1:
        # The "previous" link sits inside a <span>, so the profile's `#pager > a` sees only "Next".
        pager.append(
            f'<span class="prev"><a href="{esc(_listing_path(story["slug"], page_number - 1))}">السابق</a></span>'
        )
    if page_number < pages:
        pager.append(
            f'<a class="next" href="{esc(_listing_path(story["slug"], page_number + 1))}">التالي</a>'
        )
    body = (
        f'<div id="content">\n<h1 class="story-title">{esc(story["title"])}</h1>\n'
        f'<p class="story-category">{esc(story["category"])}</p>\n'
        f'<div id="daily-posts">{items}\n</div>\n<div id="pager">{" ".join(pager)}</div>\n</div>'
    )
    return _shell(story["title"], body)


@lru_cache(maxsize=len(VERSIONS))
def build(version: int = 1) -> tuple[dict[str, Page], Manifest]:
    """All pages of site version ``version`` by path (query included), and its manifest."""
    if version not in VERSIONS:
        raise ValueError(f"sample site version must be one of {VERSIONS}, got {version!r}")
    content = _content()
    per_page = content["chapters_per_listing_page"]
    html_type = "text/html; charset=utf-8"
    pages: dict[str, Page] = {"/robots.txt": Page(ROBOTS_TXT.encode(), "text/plain; charset=utf-8")}
    manifest = Manifest(version=version, chapters=[], dead_links=[], disallowed_links=[])

    story_items = []
    for story in content["stories"]:
        chapters = _chapters_for(story, version, content)
        manifest.chapters += chapters
        for chapter in chapters:
            pages[chapter.path] = Page(
                _chapter_html(chapter).encode(chapter.encoding),
                f"text/html; charset={chapter.encoding}",
            )
        entries = [(c.path, c.title, c.updated) for c in chapters]
        for extra in story.get("extra_links", []):
            entries.append(
                (extra["href"], extra["title"], f"{chapters[-1].publish_date}T09:00:00Z")
            )
            if extra["href"].startswith(DISALLOWED_PREFIX):
                manifest.disallowed_links.append(extra["href"])
                # The page exists, so only robots.txt can keep the crawler out of it.
                pages[extra["href"]] = Page(
                    _shell(
                        extra["title"], '<div id="content"><p>محتوى خاص بالمشتركين.</p></div>'
                    ).encode(),
                    html_type,
                )
            else:
                manifest.dead_links.append(extra["href"])
        n_pages = -(-len(entries) // per_page)
        for number in range(1, n_pages + 1):
            path = _listing_path(story["slug"], number)
            chunk = entries[(number - 1) * per_page : number * per_page]
            pages[path] = Page(_listing_html(story, chunk, number, n_pages).encode(), html_type)
            manifest.listing_pages.append(path)
        story_items.append(
            f'\n<li><div class="story-item"><a href="{html.escape(_listing_path(story["slug"], 1))}">'
            f'{html.escape(story["title"])}</a> <span class="label">{html.escape(story["category"])}</span></div></li>'
        )

    archive = f'<div id="content">\n<h1>كل القصص</h1>\n<ul id="listOfStories">{"".join(story_items)}\n</ul>\n</div>'
    pages[LIST_PATH] = Page(_shell("كل القصص", archive).encode(), html_type)
    home = f'<div id="content"><p><a href="{html.escape(LIST_PATH)}">كل القصص</a></p></div>'
    pages["/"] = Page(_shell(content["site_title"], home).encode(), html_type)
    return pages, manifest


def manifest(version: int = 1) -> Manifest:
    return build(version)[1]
