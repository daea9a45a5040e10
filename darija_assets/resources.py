"""Dagster resources: where data lives, how politely we crawl, which LLM answers.

Resources are thin configuration holders; the work they configure lives in plain
modules (crawler/, llm/, training/) imported only when a step runs, so loading the
code location stays fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg
import pydantic

from darija_assets.storage import Layout

if TYPE_CHECKING:
    from darija_assets.llm.backends import TeacherChoice
    from darija_assets.llm.base import Backend, Limits
    from darija_assets.llm.cache import AnswerCache
    from darija_assets.llm.quotas import QuotaLedger


class StorageResource(dg.ConfigurableResource):
    """The data directory: tables, quarantines, work dirs, caches and artifacts."""

    data_dir: str | None = None  # None: $DARIJA_DATA_DIR, else ./data

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every step uses storage, so this is where a step worker learns it must end
        # with its run worker (see darija_assets.recovery).
        from darija_assets.recovery import end_step_worker_with_run_worker

        end_step_worker_with_run_worker(context)

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

    Fields, by purpose:

    Which teacher
      - ``backend``: gemini, groq, openai, transformers, offline, ``auto`` (the first
        available, see ``llm.backends``), or a fallback chain such as
        ``"gemini,groq,offline"``: when one teacher's daily quota is spent the next
        continues, and every row records which one answered.
      - ``fallback``: a named backend that cannot run here (no key, no server URL) is an
        error unless this is true; then it is skipped and the reason logged.
      - ``model``: the model of a single-backend config (vendor default otherwise);
        ``openai_model`` names the model an OpenAI-compatible server serves.
      - keys (``*_api_key``) arrive through ``EnvVar``; when unset, the resource reads
        the same variable from the environment at run time, so a run config that
        overrides only a base URL keeps the key.
      - ``*_base_url``: the vendors' endpoints (tests point them at the stub);
        ``openai_base_url`` is the server's ``.../v1`` URL (vLLM, Ollama, llama.cpp).
      - ``openai_structured_output``: auto | json_schema | json_object | none.
      - ``system_role``: auto | native | fold (fold the system text into the user turn
        for chat templates without a system role, e.g. Gemma; auto detects).
      - ``local_model``: a model directory for ``transformers`` ($DARIJA_LOCAL_MODEL).

    Limits (``None``: the vendor's documented free-tier default, ``llm.quotas``; 0: none)
      - ``requests_per_minute``, ``tokens_per_minute``, ``requests_per_day``,
        ``tokens_per_day``.

    Effort and patience
      - ``concurrency`` requests in flight; ``max_retries`` re-asks of a wrong answer;
        ``timeout_s`` per request.
      - ``max_wait_s``: the longest single retry-after worth waiting for inside a step;
        ``wait_budget_s``: total seconds a step may spend paused by 429s. Past either,
        the step ends cleanly with its progress saved and the rest pending.
      - ``max_quarantine_ratio``: a step whose quarantined share of answered items is
        above this (or that got no usable answer at all) fails with the reasons.
      - ``reask_rejected``: ask again the items whose cached answer was a content
        rejection (a label outside the set after every retry); malformed answers are
        always asked again (``llm.cache``).
    """

    backend: str = "auto"
    fallback: bool = False
    model: str | None = None
    gemini_api_key: str | None = None
    groq_api_key: str | None = None
    openai_api_key: str | None = None
    gemini_base_url: str | None = None
    groq_base_url: str | None = None
    openai_base_url: str | None = None
    openai_model: str | None = None
    openai_structured_output: str = "auto"
    system_role: str = "auto"
    local_model: str | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    concurrency: int = 4
    max_retries: int = 4
    timeout_s: float = 120.0
    max_wait_s: float = 300.0
    wait_budget_s: float = 1800.0
    max_quarantine_ratio: float = 0.5
    reask_rejected: bool = False

    @pydantic.model_validator(mode="after")
    def _check(self) -> LLMResource:
        from darija_assets.llm.backends import parse_chain

        names = parse_chain(self.backend)
        if self.model and len(names) > 1:
            raise ValueError(
                "model applies to a single backend; a chain takes openai_model "
                "or each vendor's default"
            )
        for name in (
            "requests_per_minute",
            "tokens_per_minute",
            "requests_per_day",
            "tokens_per_day",
        ):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"{name} must be >= 0 (0: no limit), got {getattr(self, name)}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required")
        if self.max_wait_s < 0 or self.wait_budget_s < 0:
            raise ValueError("max_wait_s and wait_budget_s must not be negative")
        if not 0.0 < self.max_quarantine_ratio <= 1.0:
            raise ValueError(
                f"max_quarantine_ratio must be in (0, 1], got {self.max_quarantine_ratio}"
            )
        return self

    def selection_env(self) -> dict[str, str]:
        """What backend selection reads: keys from the EnvVar-resolved fields, else the
        same variables of the environment (never logged)."""

        def pick(value: str | None, variable: str) -> str:
            return value or os.environ.get(variable, "")

        return {
            "GEMINI_API_KEY": pick(self.gemini_api_key, "GEMINI_API_KEY"),
            "GROQ_API_KEY": pick(self.groq_api_key, "GROQ_API_KEY"),
            "OPENAI_API_KEY": pick(self.openai_api_key, "OPENAI_API_KEY"),
            "OPENAI_BASE_URL": pick(self.openai_base_url, "OPENAI_BASE_URL"),
            "OPENAI_MODEL": pick(self.openai_model, "OPENAI_MODEL"),
            "DARIJA_LOCAL_MODEL": pick(self.local_model, "DARIJA_LOCAL_MODEL"),
        }

    def limits_for(self, backend: str, model: str) -> Limits:
        """The vendor's documented limits for ``model`` with this config's overrides."""
        from darija_assets.llm.quotas import vendor_limits, with_overrides

        return with_overrides(
            vendor_limits(backend, model),
            rpm=self.requests_per_minute,
            tpm=self.tokens_per_minute,
            rpd=self.requests_per_day,
            tpd=self.tokens_per_day,
        )

    def build_backend(self, name: str) -> Backend:
        """One concrete backend with this config; raises BackendUnavailable."""
        from darija_assets.llm.backends import make_backend, parse_chain

        env = self.selection_env()
        single = len(parse_chain(self.backend)) == 1
        model = (self.model if single else None) or (
            env["OPENAI_MODEL"] if name == "openai" else None
        )
        base_url = {
            "gemini": self.gemini_base_url,
            "groq": self.groq_base_url,
            "openai": env["OPENAI_BASE_URL"],
        }.get(name)
        backend = make_backend(
            name,
            model=model or None,
            base_url=base_url or None,
            timeout_s=self.timeout_s,
            env=env,
            structured_output=self.openai_structured_output,
            system_role=self.system_role,
        )
        if name != "offline":
            backend.limits = self.limits_for(name, backend.model)
        return backend

    def choose_teachers(self) -> TeacherChoice:
        """The teachers a step asks, in order, and why (for the log and metadata).
        Raises BackendUnavailable when a configured backend cannot run and ``fallback``
        is off."""
        from darija_assets.llm.backends import choose_teachers

        return choose_teachers(
            self.backend, self.build_backend, fallback=self.fallback, env=self.selection_env()
        )

    def make_backend(self) -> Backend:
        """The first teacher of ``choose_teachers`` (for single-backend callers)."""
        return self.choose_teachers().teachers[0]

    def runner_options(self, log) -> dict:
        """Keyword arguments of ``llm.runner.run_task`` (see ``RunOptions``): effort,
        patience and logging. Per-minute limits come from each teacher's ``limits``."""
        return {
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
            "max_wait_s": self.max_wait_s,
            "wait_budget_s": self.wait_budget_s,
            "reask_rejected": self.reask_rejected,
            "log": log,
        }

    def open_cache(self, layout: Layout) -> AnswerCache:
        from darija_assets.llm.cache import AnswerCache, cache_path

        return AnswerCache(cache_path(layout))

    def open_ledger(self, layout: Layout) -> QuotaLedger:
        """Today's usage per teacher, beside the answer cache (``llm.quotas``)."""
        from darija_assets.llm.quotas import QuotaLedger

        return QuotaLedger(layout.cache("llm_quota_ledger.json"))


def secret(name: str) -> dg.EnvVar | None:
    """An EnvVar for a secret that is set, else None: an unset key means "this
    backend is unavailable", not a failure to load the code location."""
    return dg.EnvVar(name) if os.environ.get(name) else None
