"""Small PNG charts for the web UI, drawn with matplotlib on its Agg canvas (headless: no
display and no global backend switch), and the Markdown that embeds one in metadata.

Dagster renders ``MetadataValue.md`` with images, so a chart travels inside the event log
as a base64 ``data:`` URI (tens of kilobytes at the sizes used here). matplotlib loads
inside the functions: the code location imports this module without it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

#: dots per inch of every chart: legible in the UI's metadata panel, small in the event log
DPI = 90


@contextmanager
def figure(width: float, height: float) -> Iterator[Any]:
    """A matplotlib ``Figure`` (inches) on an Agg canvas; the caller draws, then reads
    :func:`png` before the block ends."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    yield fig


def png(fig: Any) -> bytes:
    """The figure as PNG bytes, laid out tight."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def markdown_image(png_bytes: bytes, alt: str) -> str:
    """Markdown that shows ``png_bytes`` inline (a base64 data URI)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png_bytes).decode('ascii')})"


def bar_chart(counts: Mapping[str, int], *, title: str, ylabel: str = "count") -> bytes:
    """One bar per key, in the mapping's order, with its count written on top. PNG bytes."""
    with figure(1.6 + 0.7 * max(len(counts), 1), 3.2) as fig:
        axes = fig.subplots()
        bars = axes.bar(list(counts), list(counts.values()), color="#4c72b0")
        axes.bar_label(bars, fmt="%d")
        axes.set_title(title)
        axes.set_ylabel(ylabel)
        axes.tick_params(axis="x", rotation=30)
        return png(fig)


def bars_against_quota(
    done: Mapping[str, int | None], quotas: Mapping[str, int], *, title: str, ylabel: str
) -> bytes:
    """Per key, a bar of what was made beside a bar of its quota; a key whose count is
    None (not materialized yet) gets only its quota bar and "not run" under its name."""
    import numpy as np

    keys = list(quotas)
    x = np.arange(len(keys))
    with figure(1.6 + 0.9 * max(len(keys), 1), 3.4) as fig:
        axes = fig.subplots()
        made = axes.bar(x - 0.2, [done.get(k) or 0 for k in keys], 0.4, label="made")
        axes.bar(x + 0.2, [quotas[k] for k in keys], 0.4, label="quota", color="#cccccc")
        axes.bar_label(made, labels=["not run" if done.get(k) is None else done[k] for k in keys])
        axes.set_xticks(x, keys, rotation=30)
        axes.set_title(title)
        axes.set_ylabel(ylabel)
        axes.legend()
        return png(fig)


def loss_curves(rows: Sequence[Mapping[str, float | int | None]]) -> bytes:
    """Train and eval loss against the optimizer step, from rows of ``{"step",
    "train_loss", "eval_loss"}`` (None where a step did not log that loss). PNG bytes."""
    with figure(6.0, 3.4) as fig:
        axes = fig.subplots()
        for column, style in (("train_loss", "-"), ("eval_loss", "o-")):
            points = [(r["step"], r[column]) for r in rows if r.get(column) is not None]
            if points:
                axes.plot(*zip(*points), style, label=column.replace("_", " "))
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.set_title("Loss per step")
        axes.legend()
        return png(fig)
