"""The bundled site behaves like the web where the crawler tests need it to.

Headers, encodings, robots.txt, 404s and the live version switch are what the crawler's
guarantees rest on, so they are checked here byte for byte over real HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from darija_assets.sample_site import manifest, serve_sample_site


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_manifest_matches_the_story_content():
    v1, v2 = manifest(1), manifest(2)
    assert len(v1.chapters) == 36 and len(v1.extractable) == 35
    assert len({c.story for c in v1.chapters}) == 6
    assert len({c.category for c in v1.chapters}) == 5
    assert len(v1.listing_pages) == 14
    assert len(v2.chapters) == 37 and len(v2.listing_pages) == 15
    assert [c.path for c in v1.chapters if c.encoding == "windows-1256"] == [
        "/2025/02/dar-lmhjoura-3.html"
    ]
    assert [c.path for c in v1.chapters if c.broken_markup] == ["/2025/03/weld-derb-2.html"]
    assert [c.path for c in v1.chapters if c.empty] == ["/2025/05/l3ers-dyal-khalti-5.html"]
    texts_v1, texts_v2 = ({c.path: c.text for c in v.chapters} for v in (v1, v2))
    assert {p for p in texts_v1 if texts_v1[p] != texts_v2[p]} == {
        "/2025/05/rihla-l-marrakech-2.html"
    }
    assert set(texts_v2) - set(texts_v1) == {"/2025/02/leila-w-lbher-7.html"}
    with pytest.raises(ValueError, match="version must be one of"):
        manifest(3)


def test_server_speaks_http_like_a_real_site():
    with serve_sample_site() as site:
        status, content_type, body = fetch(site.url("/robots.txt"))
        assert (status, content_type, body) == (
            200,
            "text/plain; charset=utf-8",
            b"User-agent: *\nDisallow: /private/\n",
        )

        status, content_type, body = fetch(site.url("/2025/02/dar-lmhjoura-3.html"))
        assert (status, content_type) == (200, "text/html; charset=windows-1256")
        assert "سمعت شي حد كيتنفس موراي" in body.decode("cp1256")
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")

        assert fetch(site.url("/2025/04/weld-derb-risala.html"))[0] == 404
        # The disallowed page exists: only robots.txt keeps a polite crawler out.
        assert fetch(site.url("/private/dar-lmhjoura-nihaya.html"))[0] == 200

        listing = fetch(site.url("/search/label/dar-lmhjoura?page=2"))[2].decode()
        assert '<a class="next" href="/search/label/dar-lmhjoura?page=3">' in listing
        assert [(r.path, r.status) for r in site.requests] == [
            ("/robots.txt", 200), ("/2025/02/dar-lmhjoura-3.html", 200), ("/2025/04/weld-derb-risala.html", 404),
            ("/private/dar-lmhjoura-nihaya.html", 200), ("/search/label/dar-lmhjoura?page=2", 200),
        ]  # fmt: skip


def test_version_switch_keeps_urls_and_changes_content():
    with serve_sample_site() as site:
        edited = site.url("/2025/05/rihla-l-marrakech-2.html")
        before = fetch(edited)[2].decode()
        assert fetch(site.url("/2025/02/leila-w-lbher-7.html"))[0] == 404
        site.set_version(2)
        assert "على الوحدة ونص" in fetch(edited)[2].decode() and "على الوحدة ونص" not in before
        assert fetch(site.url("/2025/02/leila-w-lbher-7.html"))[0] == 200


def test_runs_as_a_module_on_a_given_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "darija_assets.sample_site", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith(
            f"sample site v1 at http://127.0.0.1:{port}/search?view=list"
        )
        status, _, body = fetch(f"http://127.0.0.1:{port}/search?view=list")
        assert status == 200 and "ليلى والبحر" in body.decode()
    finally:
        process.terminate()
        process.wait(timeout=10)
