"""Which charset a page is really in, when its declarations disagree or cannot be found.

Scrapy decodes a page with the charset of its HTTP header when there is one, and only
then looks at the page's own ``<meta>`` declaration, in the first 4 KB (scrapy#4933,
w3lib ``html_to_unicode``). Arabic sites often sit behind servers that add a default
``charset=utf-8`` or ``ISO-8859-1`` to pages written in windows-1256, and put their meta
after kilobytes of inline script: such a page is then read as U+FFFD or as mojibake
("ÑÇäí" for "راني").

The policy here (``read_page``), for every page:

1. Candidates, in this order: the byte-order mark, the charset the page declares in its
   ``<meta>`` (w3lib's scan of the first 4 KB, else the same scan over every ``<meta>``
   tag before ``<body>``), the HTTP header's charset. The page's own declaration goes
   before the header: the author wrote it for these bytes, while the header is often a
   server default (the usual liar in scrapy#4933).
2. Each candidate reads the page (bytes invalid in it become U+FFFD, as in Scrapy). A
   reading is clean when its ``mojibake_share`` (text/quality.py, U+FFFD included) is at
   most ``MOJIBAKE_MAX_SHARE``. Among clean readings, one with Arabic letters wins (these
   are Darija sites), then one in which the body decodes strictly, then the earlier one:
   a UTF-8 page with one truncated character in a sidebar is still read as UTF-8.
3. When no declared candidate gives a clean reading with Arabic letters, UTF-8 and
   charset-normalizer's best guess are judged too, the same way.
4. If no reading is clean, the page is quarantined with a reason that names every
   declared charset and what went wrong with each tried one.

The downloader middleware in ``middlewares.py`` applies it to every page; a page without
a clean reading reaches the spider's errback as ``CharsetError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from scrapy.exceptions import IgnoreRequest
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

from darija_assets.text.quality import MOJIBAKE_MAX_SHARE, mojibake_share

#: a ``<meta ...>`` tag, its quoted attribute values taken whole (as w3lib's own scan does)
META_TAG = re.compile(
    rb"""<\s*meta(?=[\s/])(?:[^<>"']|"[^"]*"|'[^']*')*>?""", re.IGNORECASE | re.DOTALL
)
BODY_START = re.compile(rb"<\s*body[\s>]", re.IGNORECASE)
#: letters of the Arabic block (hamza to yeh, and the extended letters Darija writes: ڤ ڭ گ پ)
ARABIC_LETTER = re.compile("[\u0621-\u064a\u066e-\u06d3\u06fa-\u06ff]")


class CharsetError(IgnoreRequest):
    """No charset reads this page as clean text; the message is the quarantine reason."""


@dataclass(frozen=True)
class Declared:
    """The charsets a response declares, as Python codec names (None: not declared)."""

    bom: str | None
    header: str | None
    meta: str | None

    def describe(self) -> str:
        return f"header {self.header or 'none'}, meta {self.meta or 'none'}" + (
            f", BOM {self.bom}" if self.bom else ""
        )


@dataclass(frozen=True)
class Reading:
    """The outcome of ``read_page``: the charset chosen, or why there is none."""

    declared: Declared
    encoding: str | None
    #: set when ``encoding`` is None: the quarantine reason
    problem: str | None = None
    #: False when some bytes are invalid in ``encoding`` (read as U+FFFD, too few to matter)
    strict: bool = True


def meta_charset(body: bytes) -> str | None:
    """The charset a page declares in a ``<meta>`` tag or XML declaration, or None.

    w3lib's scan first (the first 4 KB, as browsers do, and every spelling of the pragma,
    ``httpequiv="ContentType"`` included); then the ``<meta>`` tags of the whole head,
    for pages that put theirs after a long inline script.
    """
    declared = html_body_declared_encoding(body)
    if declared:
        return declared
    head_end = BODY_START.search(body)
    head = body[: head_end.start()] if head_end else body
    metas = b"".join(META_TAG.findall(head))
    return html_body_declared_encoding(metas) if metas else None


def declared_charsets(content_type: str | None, body: bytes) -> Declared:
    return Declared(
        bom=read_bom(body)[0],
        header=http_content_type_encoding(content_type),
        meta=meta_charset(body),
    )


def detected_charset(body: bytes) -> str | None:
    """charset-normalizer's best guess (Python codec name), or None."""
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    return resolve_encoding(best.encoding) if best else None


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _unique(names) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class _Judged:
    encoding: str
    strict: bool
    share: float
    arabic: bool

    @property
    def clean(self) -> bool:
        return self.share <= MOJIBAKE_MAX_SHARE

    @property
    def why_not(self) -> str:
        return "not valid" if not self.strict else "mojibake"


def read_page(content_type: str | None, body: bytes, text_of: Callable[[str], str]) -> Reading:
    """Choose the charset to read ``body`` with (the policy is in the module docstring).

    ``text_of(encoding)`` returns the page's visible text read with ``encoding`` (bytes
    invalid in it as U+FFFD): the text judged for mojibake. Returns a ``Reading`` whose
    ``encoding`` is a Python codec name, or None with ``problem`` saying why no reading
    is clean.
    """
    declared = declared_charsets(content_type, body)

    def judge(candidates: list[str]) -> list[_Judged]:
        texts = [text_of(encoding) for encoding in candidates]
        shares = mojibake_share(texts).to_list()
        return [
            _Judged(encoding, _decodes(body, encoding), share, bool(ARABIC_LETTER.search(text)))
            for encoding, text, share in zip(candidates, texts, shares)
        ]

    declared_names = _unique([declared.bom, declared.meta, declared.header])
    judged = judge(declared_names)
    if not any(j.clean and j.arabic for j in judged):
        fallback = _unique(["utf-8", detected_charset(body)])
        judged += judge([name for name in fallback if name not in declared_names])
    clean = [(not j.arabic, not j.strict, rank, j) for rank, j in enumerate(judged) if j.clean]
    if clean:
        best = min(clean)[-1]
        return Reading(declared, best.encoding, strict=best.strict)
    tried = ", ".join(f"{j.encoding} {j.why_not}" for j in judged) or "none"
    return Reading(
        declared,
        None,
        f"charset: no reading gives clean text ({declared.describe()}; tried: {tried})",
    )
