"""Downloader middleware: read every page with the charset it is really in (see charset.py)."""

from __future__ import annotations

import logging

from scrapy.http import HtmlResponse, TextResponse

from darija_assets.crawler.charset import CharsetError, read_page
from darija_assets.crawler.spiders.qesa import extract_text

log = logging.getLogger(__name__)


def visible_text(response: TextResponse) -> str:
    """What a reader sees: an HTML page's text outside script and style, else the whole text."""
    if isinstance(response, HtmlResponse):
        return extract_text(response.xpath("/*"))
    return response.text


class CharsetMiddleware:
    """Re-decode a successful text response whose charset Scrapy got wrong, or refuse it.

    The charset comes from ``charset.read_page``. A response Scrapy already read with that
    charset (or an all-ASCII one) is passed on unchanged; any other is passed on as
    ``response.replace(encoding=...)`` (counted in ``darija/charset/corrected``). A page no
    charset reads cleanly raises ``CharsetError`` (counted in ``darija/charset/unreadable``),
    which reaches the request's errback: the spider quarantines the page with the reason.
    A page read with a few invalid bytes is counted in ``darija/charset/invalid_bytes``.
    Only 2xx responses are judged: an error page is reported by its status.
    """

    def __init__(self, stats):
        self.stats = stats
        self.noted: set[tuple] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def _note(self, key: tuple, level: int, message: str, *args) -> None:
        """Log the first page of each kind at ``level``, the others at DEBUG: a site that
        mis-declares every page would otherwise flood the run's log (the stats count them)."""
        first = key not in self.noted
        self.noted.add(key)
        log.log(level if first else logging.DEBUG, message, *args)

    def process_response(self, request, response, spider=None):
        if not isinstance(response, TextResponse) or not 200 <= response.status < 300:
            return response
        if response.body.isascii():
            return response  # every ASCII-compatible charset reads it alike
        content_type = response.headers.get("Content-Type", b"").decode("latin-1")
        reading = read_page(
            content_type,
            response.body,
            lambda encoding: visible_text(response.replace(encoding=encoding)),
        )
        if reading.encoding is None:
            self.stats.inc_value("darija/charset/unreadable")
            raise CharsetError(reading.problem)
        if not reading.strict:
            self.stats.inc_value("darija/charset/invalid_bytes")
            self._note(
                ("invalid", reading.encoding),
                logging.WARNING,
                "%s: some bytes are not valid %s; read as U+FFFD",
                response.url,
                reading.encoding,
            )
        if reading.encoding == response.encoding:
            return response
        self.stats.inc_value("darija/charset/corrected")
        self._note(
            ("corrected", reading.declared, reading.encoding),
            logging.INFO,
            "%s: read as %s, not %s (%s)",
            response.url,
            reading.encoding,
            response.encoding,
            reading.declared.describe(),
        )
        return response.replace(encoding=reading.encoding)
