"""The bundled Darija story site (the `sample` source): its pages and a loopback server.

``serve_sample_site(version=1)`` serves it on 127.0.0.1; ``manifest(version)`` says what
it contains. Run it by hand with ``python -m darija_assets.sample_site --port 8000``.
"""

from darija_assets.sample_site.pages import LIST_PATH, Chapter, Manifest, Page, manifest
from darija_assets.sample_site.server import (
    DEFAULT_PORT,
    LoggedRequest,
    SampleSite,
    serve_sample_site,
)

__all__ = [
    "DEFAULT_PORT",
    "LIST_PATH",
    "Chapter",
    "LoggedRequest",
    "Manifest",
    "Page",
    "SampleSite",
    "manifest",
    "serve_sample_site",
]
