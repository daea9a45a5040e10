"""A qesa-shaped site whose chapters declare their charsets the ways real sites get wrong.

list -> one story -> one chapter per kind below. Case 13 of ../shared/cases (scrapy#4933,
w3lib#155) gives the first kinds; the rest are its ISO-8859-1 twin and the pages that
test the other side of each rule (a stale meta on a right header, a page no charset
reads). ``EXPECTED`` says what the crawl must make of each: the exact Darija text, or a
quarantine row whose reason starts with ``charset:`` and names the given charsets.
"""

from __future__ import annotations

import html

from darija_assets.sample_site import Page

LIST_PATH = "/search?view=list"
TEXT = "راني حاس براسي بوحدي بزاف. ماعرفتش شنو ندير؟ گالت ليا: «صبر، كلشي غادي يدوز»"
TITLE = "فصل"
BIG_SCRIPT = "<script>var pad='" + "x" * 5000 + "';</script>"
HTTP_EQUIV_1256 = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
MISSPELLED_1256 = '<meta httpequiv="ContentType" content="text/html; charset=windows-1256" />'


def chapter_html(title: str, head: str, text: str = TEXT) -> str:
    return (
        f'<!DOCTYPE html><html lang="ar" dir="rtl"><head>{head}<title>{html.escape(title)}'
        f'</title></head><body><div id="content"><h1 class="post-title">{html.escape(title)}'
        f'</h1><div class="story-body"><div><p>{html.escape(text)}</p></div></div></div>'
        "</body></html>"
    )


def corrupt_utf8(title: str) -> bytes:
    """UTF-8 Darija with stray bytes: not UTF-8, and mojibake in every single-byte codec."""
    raw = chapter_html(title, '<meta charset="utf-8">').encode("utf-8")
    return raw.replace("بزاف".encode(), b"\xff\xfe\xff").replace("حاس".encode(), b"\xff")


#: path -> (Content-Type header, body bytes, expected outcome: ("text", title) or
#: ("quarantine", words the reason must hold))
CHAPTERS: dict[str, tuple[str, bytes, tuple]] = {
    # scrapy#4933: the header says utf-8, the body and its http-equiv say windows-1256
    "/c1": (
        "text/html; charset=utf-8",
        chapter_html(f"{TITLE} 1", HTTP_EQUIV_1256).encode("cp1256"),
        ("text", f"{TITLE} 1"),
    ),
    # no charset in the header; the meta comes after 5 KB of inline script
    "/c2": (
        "text/html",
        chapter_html(f"{TITLE} 2", BIG_SCRIPT + '<meta charset="windows-1256">').encode("cp1256"),
        ("text", f"{TITLE} 2"),
    ),
    # w3lib#155: the pragma spelled httpequiv="ContentType"
    "/c3": (
        "text/html",
        chapter_html(f"{TITLE} 3", MISSPELLED_1256).encode("cp1256"),
        ("text", f"{TITLE} 3"),
    ),
    # the ISO-8859-1 twin: latin-1 reads any byte, so only the text shows it is wrong
    "/c4": (
        "text/html; charset=ISO-8859-1",
        chapter_html(f"{TITLE} 4", '<meta charset="windows-1256">').encode("cp1256"),
        ("text", f"{TITLE} 4"),
    ),
    # control: header and meta utf-8
    "/c5": (
        "text/html; charset=utf-8",
        chapter_html(f"{TITLE} 5", '<meta charset="utf-8">').encode("utf-8"),
        ("text", f"{TITLE} 5"),
    ),
    # the ISO-8859-1 twin after a long script: header latin-1, meta beyond 4 KB
    "/c6": (
        "text/html; charset=iso-8859-1",
        chapter_html(f"{TITLE} 6", BIG_SCRIPT + HTTP_EQUIV_1256).encode("cp1256"),
        ("text", f"{TITLE} 6"),
    ),
    # a page re-encoded to UTF-8 that kept its old meta: the header is right, the meta stale
    "/c7": (
        "text/html; charset=utf-8",
        chapter_html(f"{TITLE} 7", '<meta charset="windows-1256">').encode("utf-8"),
        ("text", f"{TITLE} 7"),
    ),
    # no declaration anywhere: charset-normalizer's guess, checked like any other
    "/c9": (
        "text/html",
        chapter_html(f"{TITLE} 9", "").encode("cp1256"),
        ("text", f"{TITLE} 9"),
    ),
    # a damaged page: no charset reads it as clean text
    "/c8": (
        "text/html; charset=utf-8",
        corrupt_utf8(f"{TITLE} 8"),
        ("quarantine", ["charset:", "header utf-8", "meta utf-8"]),
    ),
}
LIST_HTML = (
    '<html><head><meta charset="utf-8"></head><body><ul id="listOfStories"><li><div>'
    '<a href="/story/a">قصة الحروف</a></div></li></ul></body></html>'
)
STORY_HTML = (
    '<html><head><meta charset="utf-8"></head><body><div id="content">'
    '<h1 class="story-title">قصة الحروف</h1></div><div id="daily-posts">'
    + "".join(
        f'<div><div class="content"><h2><a href="{path}">{path}</a></h2></div></div>'
        for path in CHAPTERS
    )
    + "</div></body></html>"
)


def pages() -> dict[str, Page]:
    utf8 = "text/html; charset=utf-8"
    served = {
        "/robots.txt": Page(b"User-agent: *\nAllow: /\n", "text/plain"),
        LIST_PATH: Page(LIST_HTML.encode(), utf8),
        "/story/a": Page(STORY_HTML.encode(), utf8),
    }
    served.update({path: Page(body, ctype) for path, (ctype, body, _) in CHAPTERS.items()})
    return served
