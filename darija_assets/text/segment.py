"""Split clean text into sentences with stable ids, vectorised with polars.

Where a sentence ends (chosen for Darija stories and chats as they are written online):

* after a run of sentence enders ``. ! ? ؟ …``, which stay on the sentence, because a
  question or an exclamation carries meaning the labeller needs;
* at clause and turn separators, which are dropped: ``، ؛ , ;``, a newline, a colon (so a
  speaker label "قالت ليه:" becomes its own short fragment, usually below ``min_chars``),
  and the quote marks ``« » “ ” "`` (the quoted turn becomes its own sentence);
* at a dialogue dash: one at the start of a line (``- فين كنتي؟``) or one standing alone
  between spaces. A hyphen inside a word (``مول-الحانوت``) is not a boundary.

Then each fragment is trimmed; fragments with no letter or digit are dropped (counted
as ``empty_segments``); ``position`` numbers the remaining fragments of each input row
from 0, before the length and duplicate filters, so a sentence keeps its position when
those settings change. Too-short sentences are dropped (counted), too-long ones are
quarantined with their reason, and exact duplicates across the frame keep their first
occurrence (counted). ``sentence_id`` is the first 16 hex digits of the sentence's sha256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl
import polars_hash  # noqa: F401  (registers the .chash expression namespace)

STAGE = "sentences"
SENTENCE_END_RE = r"[.!?\x{061F}\x{2026}]+"
SEPARATOR_RE = r"[\x{060C}\x{061B},;:\x{00AB}\x{00BB}\x{201C}\x{201D}\x{0022}]+"
DIALOGUE_DASH_RE = r"(?m:^[^\S\n]*[\-\x{2013}\x{2014}]+)|\s[\-\x{2013}\x{2014}]+(?:\s|$)"
#: Every boundary becomes a newline; a sentence end (group 1) stays before it.
BOUNDARY_RE = f"({SENTENCE_END_RE})|{DIALOGUE_DASH_RE}|{SEPARATOR_RE}"
#: Whitespace around a newline (written so that the engine starts at the newline: fast).
AROUND_NEWLINE_RE = r"[^\S\n]*\n\s*"
HAS_TEXT_RE = r"[\p{L}\p{N}]"
OUTPUT_COLUMNS = ("sentence_id", "sentence", "url", "source", "position")


@dataclass(frozen=True)
class SegmentOptions:
    #: shorter sentences are dropped and counted (too little to label)
    min_chars: int = 3
    #: longer ones are quarantined: usually a page that lost its punctuation
    max_chars: int = 1000
    #: exact duplicates across the frame keep only their first occurrence
    drop_duplicates: bool = True


class SegmentResult(NamedTuple):
    #: sentence_id, sentence, url, source, position
    frame: pl.DataFrame
    #: url, source, position, sentence, reason, stage: the too-long sentences
    quarantine: pl.DataFrame
    #: rows_in, rows_without_text, segments, empty_segments, too_short, too_long,
    #: duplicates, sentences_out
    stats: dict


def sentence_id(sentence: str) -> str:
    """The stable id of a sentence: first 16 hex digits of sha256 of its UTF-8 bytes."""
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()[:16]


def sentence_id_expr(sentence: pl.Expr) -> pl.Expr:
    """``sentence_id`` for a whole column, hashed in Rust (polars-hash)."""
    return sentence.chash.sha2_256().str.slice(0, 16)


def split_expr(text: pl.Expr) -> pl.Expr:
    """A list of trimmed sentence fragments per row of a text expression.

    Whitespace around each boundary is removed with it, so a fragment is never blank
    unless the whole text is.
    """
    return (
        text.fill_null("")
        .str.replace_all(BOUNDARY_RE, "${1}\n")
        .str.replace_all(AROUND_NEWLINE_RE, "\n")
        .str.strip_chars()
        .str.split("\n")
    )


def split_sentences(
    df: pl.DataFrame,
    options: SegmentOptions = SegmentOptions(),
    text_col: str = "clean_text",
) -> SegmentResult:
    """Segment ``df[text_col]`` into one row per sentence (see the module docstring).

    ``df`` needs ``url`` and ``source`` besides ``text_col``. Returns
    ``SegmentResult(frame, quarantine, stats)``; it unpacks as a 3-tuple.
    """
    missing = [c for c in (text_col, "url", "source") if c not in df.columns]
    if missing:
        raise KeyError(f"split_sentences: missing columns {missing} in {df.columns}")
    if options.min_chars < 0 or options.max_chars < max(options.min_chars, 1):
        raise ValueError(f"split_sentences: bad length bounds {options}")

    # One streaming query (it splits batches of rows on every core) cuts each row into
    # fragments, keeps those with text, numbers them, and flattens them with their ids:
    # hashing every fragment here, in parallel, costs less than hashing the kept ones after.
    # Per-row counts stay on the first flat row of their input row (position 0, or null
    # for a row left with no fragment) so they are summed once.
    text = pl.col(text_col).fill_null("")
    segmented = (
        df.lazy()
        .select(
            "url",
            "source",
            split_expr(pl.col(text_col)).alias("sentence"),
            # as ``strip_chars() == ""``: both use Unicode White_Space
            (~text.str.contains(r"\S")).alias("no_text"),
        )
        .with_columns(pl.col("sentence").list.len().alias("fragment_count"))
        .with_columns(
            pl.col("sentence").list.eval(
                pl.element().filter(pl.element().str.contains(HAS_TEXT_RE))
            )
        )
        .with_columns(
            pl.int_ranges(0, pl.col("sentence").list.len(), dtype=pl.Int64).alias("position")
        )
        .explode(["sentence", "position"], empty_as_null=True)
        .with_columns(
            pl.col("sentence").str.len_chars().alias("length"),
            sentence_id_expr(pl.col("sentence")).alias("sentence_id"),
        )
        # The id as a number: the same key for the same sentence, and several times
        # faster to deduplicate on than the text or its hex (16 hex digits fit a UInt64).
        .with_columns(pl.col("sentence_id").str.to_integer(base=16, dtype=pl.UInt64).alias("key"))
        .collect(engine="streaming")
    )

    # A row with a null sentence stands for an input row left with no text fragment: its
    # null length keeps it out of every filter and count below.
    too_long = pl.col("length") > options.max_chars
    too_short = pl.col("length") < options.min_chars
    in_bounds = pl.col("length").is_between(options.min_chars, options.max_chars)
    first = pl.col("position").fill_null(0) == 0
    counts = segmented.select(
        pl.col("fragment_count").filter(first).sum(),
        pl.col("no_text").filter(first).sum(),
        pl.col("sentence").count(),
        too_short.sum().alias("too_short"),
        in_bounds.sum().alias("in_bounds"),
    ).row(0)
    all_fragments, rows_without_text, text_fragments, too_short_n, in_bounds_n = (
        int(n or 0) for n in counts
    )

    quarantine = (
        segmented.lazy()
        .filter(too_long)
        .select(
            "url",
            "source",
            "position",
            "sentence",
            pl.format(
                "longer than {} chars ({})", pl.lit(options.max_chars), pl.col("length")
            ).alias("reason"),
            pl.lit(STAGE).alias("stage"),
        )
        .collect()
    )
    keep = in_bounds
    if options.drop_duplicates:
        # Copies of a sentence have its length, so they are all in bounds or all out: the
        # first occurrence among all fragments is the first among those in bounds.
        keep = in_bounds & pl.col("key").is_first_distinct()
    frame = segmented.lazy().filter(keep).select(OUTPUT_COLUMNS).collect()

    stats = {
        "rows_in": df.height,
        "rows_without_text": rows_without_text,
        "segments": text_fragments,
        # A row without text still splits into one blank fragment: not a segment.
        "empty_segments": all_fragments - text_fragments - rows_without_text,
        "too_short": too_short_n,
        "too_long": quarantine.height,
        "duplicates": in_bounds_n - frame.height,
        "sentences_out": frame.height,
    }
    return SegmentResult(frame, quarantine, stats)
