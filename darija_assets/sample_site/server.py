"""Serve the bundled sample site over HTTP on loopback, like a real web server would.

Real HTTP matters here: robots.txt, status codes, Content-Type charsets and pagination
then reach Scrapy exactly as they do on the web. Every request is logged so tests can
prove what was (and was not) fetched, and the served version can be switched live (same
host and port, so URLs stay stable) to exercise incremental re-crawls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from darija_assets.sample_site.pages import LIST_PATH, Manifest, Page, build

#: the port the `sample` source uses, so chapter URLs stay the same from one crawl to the next
DEFAULT_PORT = 8719
NOT_FOUND_HTML = (
    '<!DOCTYPE html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>404</title>'
    "</head><body><h1>الصفحة ماكايناش</h1></body></html>"
).encode()


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    user_agent: str


class SampleSite:
    """A running sample site: its base URL, the version it serves and the request log."""

    def __init__(self, server: _SiteServer):
        self._server = server
        host, port = server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    @property
    def start_url(self) -> str:
        return self.base_url + LIST_PATH

    @property
    def version(self) -> int:
        return self._server.version

    def set_version(self, version: int) -> None:
        build(version)  # validate and render before switching
        self._server.version = version

    @property
    def manifest(self) -> Manifest:
        return build(self._server.version)[1]

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._server.log_lock:
            return list(self._server.log)

    def requested_paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def clear_log(self) -> None:
        with self._server.log_lock:
            self._server.log.clear()

    def url(self, path: str) -> str:
        return self.base_url + path


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        version: int,
        delay_s: float,
        pages: Mapping[str, Page] | None,
    ):
        build(version)
        self.version = version
        self.pages = pages
        self.delay_s = delay_s
        self.log: list[LoggedRequest] = []
        self.log_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _SiteServer
    server_version = "darija-sample-site/1.0"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        pages = self.server.pages
        page = (pages if pages is not None else build(self.server.version)[0]).get(self.path)
        status, body, content_type = (
            (200, page.body, page.content_type)
            if page
            else (404, NOT_FOUND_HTML, "text/html; charset=utf-8")
        )
        with self.server.log_lock:
            self.server.log.append(
                LoggedRequest(self.command, self.path, status, self.headers.get("User-Agent", ""))
            )
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        """Quiet: the request log above is the record; stderr noise helps nobody in tests."""


@contextmanager
def serve_sample_site(
    version: int = 1,
    port: int = 0,
    host: str = "127.0.0.1",
    delay_s: float = 0.0,
    pages: Mapping[str, Page] | None = None,
) -> Iterator[SampleSite]:
    """Serve the sample site in a background thread; yields the running ``SampleSite``.

    ``port=0`` picks a free port (tests); the `sample` source uses ``DEFAULT_PORT`` so that
    its chapter URLs, the corpus's primary key, are the same in every crawl. ``delay_s``
    slows every response, to give a test time to interrupt a crawl part-way. ``pages``
    (path with query -> ``Page``) are served instead of the bundled site, with the same
    request log, for tests of other kinds of page (``version`` and ``manifest`` then still
    describe the bundled site).
    """
    server = _SiteServer((host, port), version, delay_s, pages)
    thread = threading.Thread(target=server.serve_forever, name="sample-site", daemon=True)
    thread.start()
    try:
        yield SampleSite(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
