"""The ``qesa`` spider: archive list -> each story's chapter list (paged) -> each chapter.

Selectors come from a site profile (``-a profile=qesa`` or a path to a JSON profile);
``-a start_url=...`` points it at any site of the same shape (a bare site root gets the
profile's list path appended) and ``-a source=...`` names the corpus rows' source.

Every page that yields no chapter becomes a ``QuarantineItem`` with its reason (HTTP
status, robots.txt, a selector that matched nothing, an empty body, a page no charset
reads cleanly: see ``middlewares.CharsetMiddleware``),
so nothing disappears silently. Chapters the work directory says are already crawled, or
unchanged since the corpus last saw them, are not requested (see ``SkipPolicy``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.selector import SelectorList
from scrapy.spidermiddlewares.httperror import HttpError

from darija_assets.crawler.charset import CharsetError
from darija_assets.crawler.items import ChapterItem, QuarantineItem
from darija_assets.crawler.profiles import load_profile
from darija_assets.crawler.workdir import SkipPolicy

#: text of a body, leaving out what browsers never show as text
VISIBLE_TEXT = (
    ".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)]"
)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: the selectors whose total failure means "this profile does not fit this site"
STAGE_SELECTORS = {"story_links": "list", "chapter_links": "story", "body": "chapter"}


class Link(NamedTuple):
    node: Any
    url: str
    text: str


def select(node, spec: str) -> SelectorList:
    """CSS by default; ``xpath:`` prefix for XPath (needed for paths relative to a node)."""
    return node.xpath(spec[len("xpath:") :]) if spec.startswith("xpath:") else node.css(spec)


def squash(text: str) -> str:
    return " ".join(text.split())


def extract_text(nodes: SelectorList) -> str:
    """Visible text of ``nodes``, one line per text node, whitespace squashed, empties dropped."""
    lines = (squash(t) for node in nodes for t in node.xpath(VISIBLE_TEXT).getall())
    return "\n".join(line for line in lines if line)


def normalise_date(value: str | None) -> str | None:
    """The ISO date at the start of a stamp ("2025-01-04T09:00:00Z" -> "2025-01-04"), else as given."""
    if not value:
        return None
    match = ISO_DATE.match(value)
    return match.group(0) if match else value


class QesaSpider(scrapy.Spider):
    name = "qesa"

    def __init__(
        self,
        start_url: str | None = None,
        profile: str = "qesa",
        source: str | None = None,
        *args,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.profile = load_profile(profile)
        self.start_url = self.profile.list_url(start_url)
        self.source = source or self.profile.name
        self.skip = SkipPolicy()

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.skip = SkipPolicy.load(
            crawler.settings.get("DARIJA_KNOWN_FILE"), crawler.settings.get("DARIJA_WORK_DIR")
        )
        return spider

    # -- stage 1: the archive list ------------------------------------------------------

    async def start(self):
        for request in self.start_requests():
            yield request

    def start_requests(self):  # kept for Scrapy < 2.13
        yield scrapy.Request(
            self.start_url,
            self.parse,
            errback=self.on_error,
            meta={"stage": "list"},
            dont_filter=True,
        )

    def parse(self, response: Response, **kwargs) -> Iterator[Any]:
        self._count("pages/list")
        stories = self._links(response, "story_links")
        if not stories:
            yield self._selector_missed(response.url, "story_links")
        for story in stories:
            yield scrapy.Request(
                story.url,
                self.parse_story,
                errback=self.on_error,
                meta={"stage": "story", "story": story.text, "first_index": 1},
            )

    # -- stage 2: a story's chapter list, following "Next" to the end ----------------------

    def parse_story(self, response: Response) -> Iterator[Any]:
        self._count("pages/story")
        story = response.meta["story"]
        if response.meta["first_index"] == 1:
            story = self._first_text(response, "story_title") or story
        chapters = self._links(response, "chapter_links")
        if not chapters:
            yield self._selector_missed(response.url, "chapter_links", stage="story")
        index = response.meta["first_index"]
        for offset, chapter in enumerate(chapters):
            marker = self._marker(chapter.node)
            decision = self.skip.decide(chapter.url, marker)
            if decision:
                self._count(f"skipped_{decision}")
                continue
            meta = {
                "url": chapter.url,
                "title": chapter.text,
                "story": story,
                "chapter_index": index + offset,
                "marker": marker,
            }
            yield scrapy.Request(
                chapter.url,
                self.parse_chapter,
                errback=self.on_error,
                meta={"stage": "chapter", "chapter": meta},
            )
        for next_page in self._links(response, "next_page", count=False):
            yield scrapy.Request(
                next_page.url,
                self.parse_story,
                errback=self.on_error,
                meta={"stage": "story", "story": story, "first_index": index + len(chapters)},
            )

    # -- stage 3: one chapter -------------------------------------------------------------

    def parse_chapter(self, response: Response) -> Iterator[Any]:
        self._count("pages/chapter")
        chapter = response.meta["chapter"]
        if not isinstance(response, TextResponse):
            content_type = response.headers.get("Content-Type", b"").decode("latin-1")
            yield self._quarantine(
                chapter["url"], "chapter", f"not a text page (Content-Type {content_type!r})"
            )
            return
        bodies = self._select(response, "body")
        if not bodies:
            yield self._selector_missed(chapter["url"], "body", stage="chapter")
            return
        text = extract_text(bodies)
        if not text:
            yield self._quarantine(
                chapter["url"], "chapter", "empty body: the body selector matched but holds no text"
            )
            return
        yield ChapterItem(
            url=chapter["url"],
            title=self._first_text(response, "title") or chapter["title"],
            raw_text=text,
            publish_date=normalise_date(self._first_text(response, "publish_date")),
            category=self._first_text(response, "category"),
            story=chapter["story"],
            chapter_index=chapter["chapter_index"],
            source=self.source,
            listing_marker=chapter["marker"],
        )

    # -- failures ----------------------------------------------------------------------

    def on_error(self, failure) -> Iterator[QuarantineItem]:
        request = failure.request
        stage = request.meta.get("stage", "unknown")
        url = request.meta.get("chapter", {}).get("url", request.url)
        if failure.check(HttpError):
            self._count(f"pages/{stage}")
            reason = f"HTTP {failure.value.response.status}"
        elif failure.check(CharsetError):
            self._count(f"pages/{stage}")
            reason = str(failure.value)
        elif failure.check(IgnoreRequest) and "robots.txt" in str(failure.value):
            reason = "disallowed by robots.txt"
        else:
            reason = f"download failed: {failure.type.__name__}: {failure.getErrorMessage()}"
        yield self._quarantine(url, stage, reason)

    # -- helpers -----------------------------------------------------------------------

    def _count(self, key: str) -> None:
        self.crawler.stats.inc_value(f"darija/{key}")

    def _quarantine(self, url: str, stage: str, reason: str) -> QuarantineItem:
        self._count("quarantined")
        if not self.crawler.stats.get_value("darija/first_quarantined"):
            # Kept so a crawl that extracted nothing can say what went wrong first.
            self.crawler.stats.set_value("darija/first_quarantined", f"{url}: {reason}")
        return QuarantineItem(url=url, reason=reason, stage=stage, source=self.source)

    def _selector_missed(self, url: str, name: str, stage: str = "list") -> QuarantineItem:
        return self._quarantine(
            url, stage, f"selector {name} {self.profile.selector(name)!r} matched nothing"
        )

    def _select(self, node, name: str, count: bool = True) -> SelectorList:
        spec = self.profile.selector(name)
        found = select(node, spec) if spec else SelectorList([])
        if count:
            # Per-selector page/match counts let CrawlReport name the selector that never matched.
            self._count(f"selectors/{name}/pages")
            if found:
                self._count(f"selectors/{name}/matched")
        return found

    def _links(self, response: Response, name: str, count: bool = True) -> list[Link]:
        links = []
        for node in self._select(response, name, count=count):
            href = node.attrib.get("href")
            if href:
                links.append(
                    Link(
                        node,
                        response.urljoin(href),
                        squash(" ".join(node.xpath(".//text()").getall())),
                    )
                )
        return links

    def _first_text(self, response: Response, name: str) -> str | None:
        if not self.profile.selector(name):
            return None
        values = [squash(v) for v in self._select(response, name, count=False).getall()]
        return next((v for v in values if v), None)

    def _marker(self, link_node) -> str | None:
        spec = self.profile.selector("chapter_marker")
        if not spec:
            return None
        return squash(select(link_node, spec).get() or "") or None
