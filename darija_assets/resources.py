"""Dagster resources: where data lives, how politely we crawl, which LLM answers.

Resources are thin configuration holders; the work they configure lives in plain
modules (crawler/, llm/, training/) imported only when a step runs, so loading the
code location stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg

from darija_assets.storage import Layout

if TYPE_CHECKING:
    from darija_assets.llm.base import Backend
    from darija_assets.llm.cache import AnswerCache


class StorageResource(dg.ConfigurableResource):
    """The data directory: tables, quarantines, work dirs, caches and artifacts."""

    data_dir: str | None = None  # None: $DARIJA_DATA_DIR, else ./data

    def layout(self) -> Layout:
        return Layout(self.data_dir)


class CrawlerResource(dg.ConfigurableResource):
    """Politeness and limits for Scrapy crawls (applied as `-s` setting overrides)."""

    download_delay: float = 1.0
    autothrottle: bool = True
    concurrent_requests_per_domain: int = 2
    #: stop after this many chapters (0: no limit); handy for a first look at a big site
    max_chapters: int = 0

    def setting_overrides(self) -> dict[str, str]:
        overrides = {
            "DOWNLOAD_DELAY": str(self.download_delay),
            "AUTOTHROTTLE_ENABLED": str(self.autothrottle),
            "CONCURRENT_REQUESTS_PER_DOMAIN": str(self.concurrent_requests_per_domain),
        }
        if self.max_chapters:
            overrides["CLOSESPIDER_ITEMCOUNT"] = str(self.max_chapters)
        return overrides


class LLMResource(dg.ConfigurableResource):
    """One LLM client configuration shared by the labelling, pairing and translation steps.

    ``backend`` is one of gemini, groq, transformers, offline, or auto (the first
    available in that order: a GEMINI_API_KEY, a GROQ_API_KEY, a local model path
    in DARIJA_LOCAL_MODEL, else the offline default). Keys arrive through EnvVar.
    """

    backend: str = "auto"
    model: str | None = None
    gemini_api_key: str | None = None
    groq_api_key: str | None = None
    gemini_base_url: str | None = None
    groq_base_url: str | None = None
    local_model: str | None = None
    requests_per_minute: int = 30  # 0: no request limit
    tokens_per_minute: int = 0  # 0: no token limit
    concurrency: int = 4
    max_retries: int = 4
    timeout_s: float = 120.0

    def make_backend(self) -> Backend:
        """The configured backend; raises BackendUnavailable when it cannot run here."""
        from darija_assets.llm.backends import make_backend, resolve_backend_name

        # Keys come in through EnvVar-resolved fields, never from the process environment here.
        env = {
            "GEMINI_API_KEY": self.gemini_api_key or "",
            "GROQ_API_KEY": self.groq_api_key or "",
            "DARIJA_LOCAL_MODEL": self.local_model or os.environ.get("DARIJA_LOCAL_MODEL", ""),
        }
        name = resolve_backend_name(self.backend, env)
        base_url = {"gemini": self.gemini_base_url, "groq": self.groq_base_url}.get(name)
        return make_backend(
            name, model=self.model, base_url=base_url, timeout_s=self.timeout_s, env=env
        )

    def runner_options(self, backend: Backend, log) -> dict:
        """Keyword arguments of ``llm.runner.run_task``: concurrency, limits, retries, logging.
        Vendor limits apply to vendor APIs only, not to a local model or the offline default."""
        from darija_assets.llm.limiter import RateLimiter

        remote = backend.name in ("gemini", "groq")
        return {
            "concurrency": self.concurrency,
            "limiter": RateLimiter(
                rpm=self.requests_per_minute or None,
                tpm=self.tokens_per_minute or None,
                max_concurrency=self.concurrency,
            )
            if remote
            else None,
            "max_retries": self.max_retries,
            "log": log,
        }

    def open_cache(self, layout: Layout) -> AnswerCache:
        from darija_assets.llm.cache import AnswerCache

        return AnswerCache(layout.cache("llm_answers.sqlite"))


def secret(name: str) -> dg.EnvVar | None:
    """An EnvVar for a secret that is set, else None: an unset key means "this
    backend is unavailable", not a failure to load the code location."""
    return dg.EnvVar(name) if os.environ.get(name) else None
