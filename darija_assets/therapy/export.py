"""The original project's file format, for anyone who trains outside this platform.

psychologist_dataset_ready.jsonl held one object per line with instruction, input,
output and emotion_tag. The export writes the same shape, atomically, so a reader
never sees half a file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from darija_assets.storage import write_jsonl

#: therapy_pairs column -> key in the original project's JSONL
ORIGINAL_FORMAT = {
    "instruction": "instruction",
    "input": "input",
    "output": "output",
    "emotion": "emotion_tag",
}


def export_original_jsonl(pairs_df: pl.DataFrame, path: Path | str) -> dict[str, int | str]:
    """Write ``pairs_df`` (therapy_pairs rows) as the original JSONL; returns {path, rows}.

    Rows keep the frame's order; sort before calling for a stable file.
    """
    missing = set(ORIGINAL_FORMAT) - set(pairs_df.columns)
    if missing:
        raise ValueError(f"therapy_pairs rows lack columns: {', '.join(sorted(missing))}")
    rows = pairs_df.select(
        [pl.col(col).alias(key) for col, key in ORIGINAL_FORMAT.items()]
    ).to_dicts()
    target = write_jsonl(rows, Path(path))
    return {"path": str(target), "rows": len(rows)}
