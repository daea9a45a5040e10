"""Small helpers shared by the asset modules: quarantine tables and UI-friendly metadata."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

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


def preview(frame: pl.DataFrame, columns: list[str], n: int = 10) -> dg.MetadataValue:
    """The first rows as a Markdown table the UI renders."""
    head = frame.select(columns).head(n)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in head.iter_rows():
        cells = [str(v).replace("|", "\\|").replace("\n", " ")[:120] for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return dg.MetadataValue.md("\n".join(lines))


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
