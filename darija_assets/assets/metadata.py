"""Small helpers shared by the asset modules: quarantine tables and UI-friendly metadata."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import dagster as dg
import polars as pl

from darija_assets.storage import Layout, write_parquet


def write_quarantine(
    layout: Layout, asset: str, partition: str, rows: pl.DataFrame | list[dict]
) -> int:
    """Replace the partition's quarantine table with ``rows``; return how many there are."""
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    write_parquet(frame, layout.quarantine(asset, partition))
    return frame.height


#: Arabic-script letters (Arabic, its supplements and presentation forms)
_ARABIC_RE = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]")
#: Unicode bidi isolates (UAX #9): RIGHT-TO-LEFT ISOLATE ... POP DIRECTIONAL ISOLATE
RLI, PDI = "\u2067", "\u2069"


def bidi_cell(text: str) -> str:
    """``text`` wrapped in a right-to-left isolate when it holds Arabic script, so the
    browser lays it out right to left (punctuation on the correct side) without reordering
    the table around it; other text is returned as it is."""
    return f"{RLI}{text}{PDI}" if _ARABIC_RE.search(text) else text


def _cell(value: object, limit: int | None = None) -> str:
    """``value`` as one Markdown table cell: pipes escaped, on one line, cut to ``limit``
    characters, Arabic isolated right to left."""
    return bidi_cell(str(value).replace("|", "\\|").replace("\n", " ")[:limit])


def preview(frame: pl.DataFrame, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """The first rows as a Markdown table the UI renders (cells cut to 120 characters;
    Arabic cells isolated right to left, see :func:`bidi_cell`)."""
    head = frame.select(columns).head(n)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(_cell(v, 120) for v in row) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def table_metadata(frame: pl.DataFrame, path: Path | str) -> dict[str, object]:
    """Dagster's standard table metadata for a written Parquet table: ``dagster/row_count``
    (the asset page's Rows), ``dagster/column_schema`` (its Columns, with polars' dtype
    names) and ``dagster/uri`` (the file)."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "dagster/uri": dg.MetadataValue.path(str(path)),
    }


def chart(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG chart (see darija_assets.charts) shown inline on the asset page."""
    from darija_assets.charts import markdown_image

    return dg.MetadataValue.md(markdown_image(png, alt))


def distribution(
    values: Iterable[str] | Mapping[str, int], label: str = "value"
) -> dg.MetadataValue:
    """Counts per value as a table (the UI shows it as a table; sorted by count)."""
    counts = Counter(values) if not isinstance(values, Mapping) else Counter(dict(values))
    return dg.MetadataValue.table(
        records=[dg.TableRecord({label: k, "count": int(v)}) for k, v in counts.most_common()],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(label, "string"), dg.TableColumn("count", "int")]
        ),
    )


def scalar_stats(stats: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """The numeric and text entries of a stats dict, ready for metadata."""
    return {
        f"{prefix}{k}": (round(v, 4) if isinstance(v, float) else v)
        for k, v in stats.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    }


def stats_block(entries: Mapping[str, object]) -> dg.MetadataValue:
    """Related counts of one step as one Markdown table (``| name | value |``), in the
    order given: the UI shows the group in one place instead of a flat key each.

    Zero counters say nothing row by row, so they are named together on one line under
    the table ("zero: retries, rate_limited"); empty values (None, "") are left out; floats
    are rounded to 4 places. This is the home of detail counters; the few numbers worth
    charting over time stay flat keys as well (see the asset modules)."""
    rows, zeros = [], []
    for name, value in entries.items():
        if value is None or value == "":
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            zeros.append(name)
            continue
        shown = round(value, 4) if isinstance(value, float) else value
        rows.append(f"| {name} | {_cell(shown)} |")
    lines = ["| name | value |", "|---|---|", *rows]
    if zeros:
        lines += ["", f"zero: {', '.join(zeros)}"]
    return dg.MetadataValue.md("\n".join(lines))


#: the importer's "line 12: " prefix, and any number, vary within one kind of reason
_LINE_PREFIX_RE = re.compile(r"^line \d+: ")
_NUMBER_RE = re.compile(r"\d+")


def quarantine_reasons(quarantine: pl.DataFrame, top: int = 5) -> list[tuple[int, str, list]]:
    """The ``top`` most frequent kinds of reason in a quarantine table, as (count, reason,
    up to three example lines or urls). Reasons are grouped with their line prefix dropped
    and numbers written as N, so "line 3: invalid JSON (... column 5)" and "line 9: invalid
    JSON (... column 2)" are one kind."""
    examples_column = next((c for c in ("line", "url") if c in quarantine.columns), None)
    kinds: dict[str, list] = {}
    for row in quarantine.iter_rows(named=True):
        reason = _NUMBER_RE.sub("N", _LINE_PREFIX_RE.sub("", str(row.get("reason") or "no reason")))
        kinds.setdefault(reason, []).append(row[examples_column] if examples_column else None)
    ranked = sorted(kinds.items(), key=lambda item: -len(item[1]))[:top]
    return [
        (len(where), reason, [w for w in where if w is not None][:3]) for reason, where in ranked
    ]


def fail_if_all_quarantined(asset: str, kept: int, quarantine: pl.DataFrame | list[dict]) -> None:
    """Raise ``dagster.Failure`` when a step kept no row and quarantined some: the message
    gives the top reasons with their counts and example lines, so nobody has to open the
    quarantine table to learn why the partition is empty. Does nothing otherwise."""
    if isinstance(quarantine, list):
        quarantine = pl.DataFrame(quarantine)
    if kept or quarantine.is_empty():
        return
    reasons = quarantine_reasons(quarantine)
    label = "line " if "line" in quarantine.columns else ""
    lines = [
        f"  {count} x {reason}"
        + (f" (e.g. {', '.join(f'{label}{w}' for w in where)})" if where else "")
        for count, reason, where in reasons
    ]
    raise dg.Failure(
        description=(
            f"{asset} kept no row: all {quarantine.height} were quarantined. Top reasons:\n"
            + "\n".join(lines)
        ),
        metadata={
            "quarantined": quarantine.height,
            "top_reasons": distribution({reason: count for count, reason, _ in reasons}, "reason"),
        },
    )
