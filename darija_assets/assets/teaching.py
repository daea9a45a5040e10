"""What the three LLM steps (teacher_labels, therapy_pairs, translations) share in their
Dagster wiring: choosing the teachers out loud, the metadata of a run that stopped on
a quota, and failing a step whose teacher produced nothing usable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from darija_assets.assets.metadata import stats_block
from darija_assets.resources import LLMResource

if TYPE_CHECKING:
    from darija_assets.llm.backends import TeacherChoice
    from darija_assets.llm.base import Backend


def choose_teachers(llm: LLMResource, log: Any) -> TeacherChoice:
    """The configured teachers, logged with the reason they were chosen. A configured
    backend that cannot run raises (``BackendUnavailable``) unless ``fallback`` is set."""
    choice = llm.choose_teachers()
    log.info("teachers: %s (%s)", choice.names, choice.reason)
    for skipped in choice.skipped:
        log.warning("teacher skipped: %s", skipped)
    return choice


def as_runner_backend(choice: TeacherChoice) -> Backend | list[Backend]:
    """One backend alone, or the chain (``run_task`` takes either)."""
    return choice.teachers[0] if len(choice.teachers) == 1 else list(choice.teachers)


#: the runner's counters worth charting over time (Plots tab): flat keys on every LLM
#: step, present even when zero so each run adds a point. Every other runner counter is
#: detail and lives in the "teacher" block.
TEACHER_HEADLINE = ("requests_sent", "cache_hits", "rate_limited", "pending")


def teacher_metadata(
    choice: TeacherChoice, stats: Mapping[str, Any], own: Iterable[str] = ()
) -> dict[str, Any]:
    """An LLM step's teacher metadata: flat ``status`` ("complete" or "partial") and the
    :data:`TEACHER_HEADLINE` counters, and one "teacher" block (see ``stats_block``) with
    which teachers were chosen and why, how far a run stopped by a quota or the wait
    budget got and when to run again, and every other entry of ``stats`` (retries,
    tokens, waits...) except the step's ``own`` keys, which the step shows itself."""
    pending = int(stats.get("pending", 0))
    items = stats.get("items", 0)
    block: dict[str, Any] = {
        "teachers": choice.names,
        "teacher_choice": choice.reason,
        "progress": f"{items - pending} of {items} items" if pending else None,
        "quota_resets_at": stats.get("quota_resets_at") if pending else None,
    }
    skip = {*TEACHER_HEADLINE, *own, *block}
    block.update(
        (k, v)
        for k, v in stats.items()
        if k not in skip and isinstance(v, (int, float, str)) and not isinstance(v, bool)
    )
    return {
        "status": "partial" if pending else "complete",
        **{k: stats.get(k, 0) for k in TEACHER_HEADLINE},
        "teacher": stats_block(block),
    }


def log_partial(log: Any, asset: str, stats: Mapping[str, Any]) -> None:
    if stats.get("pending"):
        log.warning(
            "%s stopped early: %s items pending (quota or wait budget); %s. Everything answered "
            "is saved: run again%s to continue.",
            asset,
            stats["pending"],
            stats.get("answered_by") or "no answers",
            f" after {stats['quota_resets_at']}" if stats.get("quota_resets_at") else "",
        )


def fail_if_unusable(
    asset: str, accepted: int, reasons: Iterable[str], max_quarantine_ratio: float
) -> None:
    """Raise ``dg.Failure`` when the teacher produced nothing usable: every answered item
    quarantined, or a quarantined share above ``max_quarantine_ratio``. The failure lists
    the reasons with their counts. Partial trouble below the ratio stays a WARN check."""
    counts = Counter(reasons)
    quarantined = sum(counts.values())
    answered = accepted + quarantined
    if not quarantined:
        return
    ratio = quarantined / answered
    if accepted and ratio <= max_quarantine_ratio:
        return
    what = (
        "no usable answer"
        if not accepted
        else f"{ratio:.0%} of answers quarantined, above max_quarantine_ratio "
        f"{max_quarantine_ratio:.0%}"
    )
    top = "; ".join(f"{n} x {reason[:160]}" for reason, n in counts.most_common(5))
    raise dg.Failure(
        description=f"{asset}: the teacher produced {what} ({accepted} accepted, "
        f"{quarantined} quarantined). Reasons: {top}",
        metadata={
            "accepted": accepted,
            "quarantined": quarantined,
            "reasons": dg.MetadataValue.json(dict(counts.most_common(20))),
        },
    )
