"""Data-quality checks, evaluated inside each asset step on the data it just wrote.

They are declared as ``check_specs`` on the assets through :func:`partitioned`, so each
check carries the asset's own partitions: a result is recorded for its partition, and the
UI shows a check that failed on 6 of 7 emotions as failed there, not as the last run's
outcome. They are returned with the materialization. Blocking checks stop downstream
steps of the same run when bad data would poison them: an empty corpus, mojibake,
text that is no longer Arabic script, labels outside the label set.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import dagster as dg


def spec(asset: str, name: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name=name, asset=asset, description=description, blocking=blocking)


def partitioned(
    partitions_def: dg.PartitionsDefinition, specs: Iterable[dg.AssetCheckSpec]
) -> list[dg.AssetCheckSpec]:
    """``specs`` with the partitions of the asset they check (Dagster requires the same
    ``partitions_def`` as the asset's). Without it a check of a partitioned asset is one
    status for the whole asset, overwritten by whichever partition ran last."""
    with warnings.catch_warnings():
        # Dagster marks check partitions as a preview; this is its documented use
        warnings.filterwarnings(
            "ignore", message="Specifying a partitions_def on an AssetCheckSpec"
        )
        return [
            dg.AssetCheckSpec(
                name=s.name,
                asset=s.asset_key,
                description=s.description,
                additional_deps=s.additional_deps,
                blocking=s.blocking,
                metadata=s.metadata,
                automation_condition=s.automation_condition,
                partitions_def=partitions_def,
            )
            for s in specs
        ]


def not_empty(asset: str, rows: int, *, what: str = "rows") -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name="not_empty",
        passed=rows > 0,
        metadata={what: rows},
        description=None if rows else f"{asset} has no {what}: nothing for the next step to use",
    )


def _bounded(
    asset: str,
    check_name: str,
    value: float,
    threshold: float,
    passed: bool,
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=passed,
        severity=severity,
        metadata={"value": round(value, 4), "threshold": threshold},
    )


def at_least(
    asset: str,
    check_name: str,
    value: float,
    threshold: float,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return _bounded(asset, check_name, value, threshold, value >= threshold, severity)


def at_most(
    asset: str,
    check_name: str,
    value: float,
    threshold: float,
    *,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return _bounded(asset, check_name, value, threshold, value <= threshold, severity)


def all_in(
    asset: str, check_name: str, values: Iterable[str], allowed: Iterable[str]
) -> dg.AssetCheckResult:
    allowed_set = set(allowed)
    outside = sorted({v for v in values if v not in allowed_set})
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=not outside,
        metadata={
            "outside": ", ".join(outside) or "none",
            "allowed": ", ".join(sorted(allowed_set)),
        },
    )


def none_bad(
    asset: str,
    check_name: str,
    worst: list[tuple[str, float]],
    total: int,
    threshold: float,
    *,
    what: str = "pages",
    measure: str = "score",
) -> dg.AssetCheckResult:
    """Passes when no row is bad: each row is judged on its own (``measure`` above
    ``threshold``), so one bad page fails the check however large the source.

    ``worst`` is (key, score) of every bad row, worst first; the failure names their count
    and the first five.
    """
    n_bad = len(worst)
    shown = ", ".join(f"{key} ({score:.2f})" for key, score in worst[:5])
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=n_bad == 0,
        metadata={
            f"bad_{what}": n_bad,
            what: total,
            "threshold": threshold,
            "worst": shown or "none",
        },
        description=(
            f"{n_bad} of {total} {what} have {measure} above {threshold}; worst: {shown}"
            if n_bad
            else None
        ),
    )


# Thresholds shared by the specs and the results.
MIN_ARABIC_SCRIPT_RATIO = 0.8
MAX_DUPLICATE_RATIO = 0.5
MAX_QUARANTINE_RATIO = 0.2
