"""Reading the grouped metadata blocks (darija_assets.assets.metadata.stats_block) back
into values, so tests can assert on a counter that moved from a flat key into a block."""

from __future__ import annotations

import re

from darija_assets.assets.metadata import PDI, RLI

_ROW_RE = re.compile(r"^\| (?P<name>[^|]+?) \| (?P<value>.*) \|$")


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.replace("\\|", "|").strip(RLI + PDI)


def read_block(markdown: object) -> dict[str, int | float | str]:
    """The entries of a stats block (a Markdown string or its MetadataValue): its rows,
    and 0 for every name on its "zero:" line. Raises ValueError on text that is not a
    stats block."""
    text = getattr(markdown, "value", markdown)
    lines = str(text).splitlines()
    if lines[:2] != ["| name | value |", "|---|---|"]:
        raise ValueError(f"not a stats block: {str(text)[:80]!r}")
    block: dict[str, int | float | str] = {}
    for line in lines[2:]:
        if match := _ROW_RE.match(line):
            block[match["name"]] = _value(match["value"])
        elif line.startswith("zero: "):
            block.update((name, 0) for name in line.removeprefix("zero: ").split(", "))
    return block
