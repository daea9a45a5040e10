"""What the three LLM steps (teacher_labels, therapy_pairs, translations) share in their
Dagster wiring: choosing the teachers out loud, the metadata of a run that stopped on
a quota, and failing a step whose teacher produced nothing usable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

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


def teacher_metadata(choice: TeacherChoice, stats: Mapping[str, Any]) -> dict[str, Any]:
    """Which teachers were chosen and why, and, when quotas or the wait budget stopped
    the run early, how far it got and when to run again."""
    meta: dict[str, Any] = {"teachers": choice.names, "teacher_choice": choice.reason}
    pending = int(stats.get("pending", 0))
    meta["status"] = "partial" if pending else "complete"
    if pending:
        meta["progress"] = f"{stats.get('items', 0) - pending} of {stats.get('items', 0)} items"
        if stats.get("quota_resets_at"):
            meta["quota_resets_at"] = stats["quota_resets_at"]
    return meta


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
