"""Pages whose charset declarations lie or hide: read right, or quarantined with the reason.

A real Scrapy crawl over loopback of ``charset_site`` (case 13 and its kin), then the
policy of ``charset.read_page`` on its own, on bytes made here with Python's codecs.
"""

from __future__ import annotations

import polars as pl
import pytest

from darija_assets.crawler import runner
from darija_assets.crawler.charset import meta_charset, read_page
from darija_assets.sample_site import serve_sample_site
from darija_assets.text.quality import mojibake_share
from darija_assets_tests.crawler import charset_site
from darija_assets_tests.crawler.charset_site import CHAPTERS, TEXT, chapter_html


@pytest.fixture(scope="module")
def charset_crawl(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("charset_crawl") / "work"
    with serve_sample_site(pages=charset_site.pages()) as site:
        stats = runner.run_crawl(
            "charsets",
            work_dir,
            start_url=site.base_url + charset_site.LIST_PATH,
            settings=runner.LOOPBACK_SETTINGS,
            timeout_s=120,
        )
        base = site.base_url
    items, quarantine, _ = runner.collect(work_dir)
    return base, stats, items, quarantine


@pytest.mark.parametrize("path", list(CHAPTERS))
def test_each_page_is_read_right_or_quarantined_for_its_charset(charset_crawl, path):
    base, _, items, quarantine = charset_crawl
    kind, expected = CHAPTERS[path][2]
    kept = items.filter(pl.col("url") == base + path).to_dicts()
    held = quarantine.filter(pl.col("url") == base + path).to_dicts()
    if kind == "text":
        assert held == []
        assert [(row["raw_text"], row["title"]) for row in kept] == [(TEXT, expected)]
    else:
        assert kept == []
        assert len(held) == 1 and held[0]["stage"] == "chapter"
        reason = held[0]["reason"]
        assert reason.startswith("charset: ")
        assert all(words in reason for words in expected), reason


def test_no_kept_page_is_mojibake_and_corrections_are_counted(charset_crawl):
    _, stats, items, quarantine = charset_crawl
    assert items.height == sum(1 for *_, (kind, _) in CHAPTERS.values() if kind == "text")
    assert mojibake_share(items["raw_text"]).max() == 0.0
    # c1, c4 and c6 are the pages Scrapy reads with the header's wrong charset.
    assert stats["charset_corrected"] == 3
    assert stats["charset_unreadable"] == quarantine.height == 1
    assert stats["charset_invalid_bytes"] == 0


# -- the policy on its own ---------------------------------------------------------------


def decode(body: bytes):
    return lambda encoding: body.decode(encoding, errors="replace")


@pytest.mark.parametrize(
    ("header", "meta", "written", "chosen"),
    [
        ("text/html; charset=utf-8", "windows-1256", "cp1256", "cp1256"),
        ("text/html; charset=ISO-8859-1", "windows-1256", "cp1256", "cp1256"),
        ("text/html; charset=windows-1252", "windows-1256", "cp1256", "cp1256"),
        ("text/html; charset=utf-8", "windows-1256", "utf-8", "utf-8"),  # stale meta
        ("text/html; charset=windows-1256", "utf-8", "utf-8", "utf-8"),  # lying header
        ("text/html; charset=ISO-8859-1", None, "utf-8", "utf-8"),
        ("text/html; charset=ISO-8859-6", "iso-8859-6", "iso8859-6", "iso8859-6"),
    ],
)
def test_the_reading_with_clean_darija_wins(header, meta, written, chosen):
    head = f'<meta charset="{meta}">' if meta else ""
    # گ and « are not in ISO-8859-6
    text = "راني حاس براسي بوحدي بزاف. ماعرفتش شنو ندير؟"
    body = chapter_html("فصل", head, text).encode(written)
    reading = read_page(header, body, decode(body))
    assert reading.encoding == chosen
    assert text in body.decode(reading.encoding)


def test_a_page_no_charset_reads_is_refused_with_every_declaration_named():
    body = charset_site.corrupt_utf8("فصل")
    reading = read_page("text/html; charset=windows-1256", body, decode(body))
    assert reading.encoding is None
    assert reading.problem.startswith("charset: no reading gives clean text")
    assert "header cp1256, meta utf-8" in reading.problem
    assert "cp1256 mojibake" in reading.problem and "utf-8 not valid" in reading.problem


def test_a_few_invalid_bytes_do_not_make_a_utf8_page_unreadable():
    # A sidebar excerpt cut in the middle of a character, as byte-counting templates do.
    excerpt = "واش نتي لاباس".encode()[:-1]
    page = chapter_html("فصل", '<meta charset="windows-1256">', text=" ".join([TEXT] * 20))
    body = page.encode().replace(b"</body>", b"<aside>" + excerpt + b"</aside></body>")
    reading = read_page("text/html; charset=utf-8", body, decode(body))
    assert (reading.encoding, reading.strict) == ("utf-8", False)


def test_byte_order_mark_outranks_the_declarations():
    body = b"\xef\xbb\xbf" + chapter_html("فصل", '<meta charset="windows-1256">').encode()
    reading = read_page("text/html; charset=iso-8859-1", body, decode(body))
    assert (reading.declared.bom, reading.encoding) == ("utf-8", "utf-8")


@pytest.mark.parametrize(
    ("head", "declared"),
    [
        (charset_site.BIG_SCRIPT + '<meta charset="windows-1256">', "cp1256"),
        (charset_site.MISSPELLED_1256, "cp1256"),
        ("<link rel=x>" * 600 + charset_site.HTTP_EQUIV_1256, "cp1256"),
        ('<meta name="description" content="charset=koi8-r is not a declaration">', None),
        ("", None),
    ],
    ids=["after-script", "misspelled-pragma", "after-links", "content-without-pragma", "none"],
)
def test_meta_charset_is_found_anywhere_in_the_head(head, declared):
    assert meta_charset(chapter_html("فصل", head).encode("cp1256")) == declared


def test_meta_after_the_body_starts_is_not_a_declaration():
    body = chapter_html("فصل", "").replace("</p>", '</p><meta charset="koi8-r">').encode()
    assert meta_charset(body) is None
