"""Split clean text into sentences with stable ids and their speaker, vectorised with polars.

Dialogue first. Stories are often written as dialogue, the speaker's name before a colon
(``سلمى : واش نتي لاباس؟``), one turn per line or several turns on one line. A speaker
label is:

* one to three words (letters and combining marks only: no digit, no punctuation),
* at the start of a line (after an optional dialogue dash) or right after a sentence
  ender ``. ! ? ؟ …`` and a space,
* followed by ``:`` or `` :``; the turn is the text after it up to the next label or the
  end of the line (a label alone at the end of a line takes the next line as its turn),
* in a text that holds at least two such labels (a dialogue), or naming a known speaker:
  a name used as a label at least twice in the frame (so a dataset of one turn per row
  works). A lone "عندي سؤال: ..." or "قالت ليه: «...»" in a narration, a chat message or a
  list is not taken for a label; a colon after four or more words, between digits, or
  mid-sentence is not a label either, except:
* a known speaker's label inside a line of a dialogue, where the previous turn has no
  sentence end ("سلمى: واش نتي لاباس مريم: الحمد لله"). A single word used so twice in the
  frame's labelled rows is a known speaker too, unless it ends a longer known name
  ("علي" of "الحاج علي").

The label is not a sentence: its words become the ``speaker`` of every sentence of the
turn (null for narration; without a label, the row's own ``speaker`` column, e.g. a chat
export's pseudonym, when ``df`` has one). A turn is one utterance: it is split only after
sentence enders, so ``الحمد لله، غير شوية العيا.`` stays whole. Labels need the colon that
``CleanOptions(keep_punctuation=True)`` (the default) keeps.

Everywhere else (narration), a sentence ends (chosen for Darija stories and chats as they are
written online):

* after a run of sentence enders ``. ! ? ؟ …``, which stay on the sentence, because a
  question or an exclamation carries meaning the labeller needs;
* at clause and turn separators, which are dropped: ``، ؛ , ;``, a newline, a colon, and
  the quote marks ``« » “ ” "`` (the quoted turn becomes its own sentence);
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
#: Inside a speaker's turn only sentence enders split.
TURN_BOUNDARY_RE = f"({SENTENCE_END_RE})"
#: Whitespace around a newline (written so that the engine starts at the newline: fast).
AROUND_NEWLINE_RE = r"[^\S\n]*\n\s*"
HAS_TEXT_RE = r"[\p{L}\p{N}]"

LABEL_WORD_RE = r"\p{L}[\p{L}\p{M}]*"
#: A speaker label (see the module docstring): group 1 is what precedes it and stays (a
#: sentence end and its spaces), group 2 the speaker; the colon, the spaces around it and a
#: newline right after it go with the label.
SPEAKER_LABEL_RE = (
    rf"(?m)(^|{SENTENCE_END_RE}[^\S\n]+)[^\S\n]*(?:[\-\x{{2013}}\x{{2014}}]+[^\S\n]*)?"
    rf"({LABEL_WORD_RE}(?:[^\S\n]+{LABEL_WORD_RE}){{0,2}})[^\S\n]*:[^\S\n]*(?:\n[^\S\n]*)?"
)
#: A text with fewer labels than this is not a dialogue (its colons are plain separators),
#: unless one of its labels names a known speaker; a known speaker is a name used as a label
#: this many times in the frame.
MIN_DIALOGUE_LABELS = 2
#: Ends a speaker's name in the marked text (a control character cleaning never keeps).
SPEAKER_END = "\x1f"
#: The label marked: its turn starts a new piece, the speaker before SPEAKER_END.
MARKED_LABEL = f"${{1}}\n${{2}}{SPEAKER_END}"
#: A single word used as a label inside a line of a dialogue, where the previous turn has no
#: sentence end ("... لاباس مريم: ..."): group 1 is the character before it (not a sentence
#: ender or dash: SPEAKER_LABEL_RE covers those), group 2 the word. Counted to find known
#: speakers, whose labels inside lines are then cut as literals (``inside_labels``).
INSIDE_LABEL_RE = (
    r"([^\s.!?\x{061F}\x{2026}\-\x{2013}\x{2014}])[^\S\n]+"
    rf"({LABEL_WORD_RE})[^\S\n]*:"
)
#: What each fragment carries from its input row.
ROW_ID = ("row", "url", "source", "speaker")
OUTPUT_COLUMNS = ("sentence_id", "sentence", "url", "source", "position", "speaker")


@dataclass(frozen=True)
class SegmentOptions:
    #: shorter sentences are dropped and counted (too little to label)
    min_chars: int = 3
    #: longer ones are quarantined: usually a page that lost its punctuation
    max_chars: int = 1000
    #: exact duplicates across the frame keep only their first occurrence
    drop_duplicates: bool = True


class SegmentResult(NamedTuple):
    #: sentence_id, sentence, url, source, position, speaker
    frame: pl.DataFrame
    #: url, source, position, sentence, reason, stage: the too-long sentences
    quarantine: pl.DataFrame
    #: rows_in, rows_without_text, dialogue_rows (rows with speaker labels), turn_segments
    #: (text fragments inside labelled turns), segments, empty_segments, too_short,
    #: too_long, duplicates, sentences_out
    stats: dict


def sentence_id(sentence: str) -> str:
    """The stable id of a sentence: first 16 hex digits of sha256 of its UTF-8 bytes."""
    return hashlib.sha256(sentence.encode("utf-8")).hexdigest()[:16]


def sentence_id_expr(sentence: pl.Expr) -> pl.Expr:
    """``sentence_id`` for a whole column, hashed in Rust (polars-hash)."""
    return sentence.chash.sha2_256().str.slice(0, 16)


def split_expr(text: pl.Expr, boundary_re: str = BOUNDARY_RE) -> pl.Expr:
    """A list of trimmed sentence fragments per row of a text expression, cut at
    ``boundary_re`` (a sentence end, its group 1, stays on its sentence).

    Whitespace around each boundary is removed with it, so a fragment is never blank
    unless the whole text is.
    """
    return (
        text.fill_null("")
        .str.replace_all(boundary_re, "${1}\n")
        .str.replace_all(AROUND_NEWLINE_RE, "\n")
        .str.strip_chars()
        .str.split("\n")
    )


def inside_labels(names: list[str]) -> dict[str, str]:
    """The labels of ``names`` inside a line (" مريم:" and " مريم :", as cleaned text spaces
    them), each to its mark: a piece break, the name, SPEAKER_END. Longest first, for a
    leftmost ``replace_many``: " الحاج علي:" wins over " علي:"."""
    marks = {}
    for name in sorted(names, key=len, reverse=True):
        for colon in (":", " :"):
            marks[f" {name}{colon}"] = f"\n{name}{SPEAKER_END}"
    return marks


def known_speakers(labels: pl.Series, inside: pl.Series, marked: pl.Series) -> list[str]:
    """The known speakers of a frame: names used as a label at least MIN_DIALOGUE_LABELS
    times, longest first. Counted: the labels SPEAKER_LABEL_RE found (``labels``, names per
    row), and in the rows that have one, the single words used as labels inside lines
    (``inside``, INSIDE_LABEL_RE's words per row) unless they end a longer name ("علي" of
    "الحاج علي"), and the longer names' own uses inside lines (in ``marked``, the texts with
    SPEAKER_LABEL_RE's labels marked, so that those are not counted twice).
    """
    positional = labels.explode().drop_nulls()
    if positional.is_empty():
        return []
    longer = [name for name in positional.unique().to_list() if " " in name]
    with_labels = labels.list.len() > 0
    words = inside.filter(with_labels).explode().drop_nulls()
    counts = [positional, words.filter(~words.is_in([n.split()[-1] for n in longer]))]
    if longer:
        forms = inside_labels(longer)
        found = marked.filter(with_labels).str.extract_many(list(forms), overlapping=False)
        counts.append(found.explode().drop_nulls().str.strip_chars(" :"))
    counted = pl.concat(counts).value_counts()
    name, count = counted.columns
    known = counted.filter(pl.col(count) >= MIN_DIALOGUE_LABELS)[name].to_list()
    return sorted(known, key=lambda n: (-len(n), n))


def too_long_quarantine(sentences: pl.DataFrame, max_chars: int) -> pl.DataFrame:
    """Quarantine rows (url, source, position, sentence, reason, stage) of the sentences
    longer than ``max_chars``; ``sentences`` has those columns but reason and stage, and
    ``length`` (characters)."""
    # polars 2.1.0 bug (standalone repro: cases/21_polars_format_panic/repro.py): with the
    # streaming engine (the default of collect), ``pl.format(...)`` after a ``filter`` on a
    # frame whose columns have two or more chunks panics with "assertion failed:
    # i < self.len()" (PanicException) when the filter keeps two or more rows of a later
    # chunk, e.g. chunks of 6 and 4 rows with hits at rows 1 and 3 of the second. Segmented
    # frames of real corpora are multi-chunk, so the reason is built with
    # ``pl.concat_str``, which no chunk layout breaks (darija_assets_tests/text/
    # test_segment.py runs both shapes on many layouts).
    return (
        sentences.lazy()
        .filter(pl.col("length") > max_chars)
        .select(
            "url",
            "source",
            "position",
            "sentence",
            pl.concat_str(
                pl.lit(f"longer than {max_chars} chars ("),
                pl.col("length").cast(pl.String),
                pl.lit(")"),
            ).alias("reason"),
            pl.lit(STAGE).alias("stage"),
        )
        .collect()
    )


def split_sentences(
    df: pl.DataFrame,
    options: SegmentOptions = SegmentOptions(),
    text_col: str = "clean_text",
) -> SegmentResult:
    """Segment ``df[text_col]`` into one row per sentence (see the module docstring).

    ``df`` needs ``url`` and ``source`` besides ``text_col``; an optional ``speaker``
    column (null for non-chat rows) is the speaker of sentences outside a labelled turn.
    Returns ``SegmentResult(frame, quarantine, stats)``; it unpacks as a 3-tuple. Raises
    ``KeyError`` for a missing column, ``ValueError`` for bad length bounds.
    """
    missing = [c for c in (text_col, "url", "source") if c not in df.columns]
    if missing:
        raise KeyError(f"split_sentences: missing columns {missing} in {df.columns}")
    if options.min_chars < 0 or options.max_chars < max(options.min_chars, 1):
        raise ValueError(f"split_sentences: bad length bounds {options}")

    text = pl.col(text_col).cast(pl.String).fill_null("")
    row_speaker = pl.col("speaker") if "speaker" in df.columns else pl.lit(None)
    marked = pl.col("marked")
    rows = (
        df.lazy()
        .select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            "url",
            "source",
            row_speaker.cast(pl.String).alias("speaker"),
            text.alias("text"),
            text.str.replace_all(SPEAKER_LABEL_RE, MARKED_LABEL).alias("marked"),
        )
        .with_columns(
            marked.str.extract_all(f"[^\n{SPEAKER_END}]+{SPEAKER_END}")
            .list.eval(pl.element().str.strip_chars_end(SPEAKER_END))
            .alias("labels"),
            marked.str.extract_all(INSIDE_LABEL_RE)
            .list.eval(pl.element().str.extract(INSIDE_LABEL_RE, 2))
            .alias("inside"),
        )
        .collect(engine="streaming")
    )
    known = known_speakers(rows["labels"], rows["inside"], rows["marked"])
    dialogue = pl.col("labels").list.len() >= MIN_DIALOGUE_LABELS
    if known:
        marks = inside_labels(known)
        dialogue |= pl.col("labels").list.eval(pl.element().is_in(known)).list.any()
        dialogue |= pl.col("text").str.contains_any(list(marks))
        marked = marked.str.replace_many(list(marks), list(marks.values()), leftmost=True)
    rows = rows.with_columns(dialogue.alias("dialogue"))
    # Narration rows split in one pass. Dialogue rows are cut into pieces first (a turn
    # runs from its label to the next label or the end of its line; the rest are narration
    # lines), and each kind of piece is split by its own rules in its own pass.
    narration = (
        rows.lazy()
        # a blank row splits into one blank fragment, which is not a segment
        .filter(~pl.col("dialogue") & pl.col("text").str.contains(r"\S"))
        .select(
            *ROW_ID,
            pl.lit(0, pl.UInt32).alias("piece_no"),
            pl.lit(None, pl.String).alias("label"),
            split_expr(pl.col("text")).alias("sentence"),
        )
    )
    piece = pl.col("piece")
    pieces = (
        rows.lazy()
        .filter("dialogue")
        .select(*ROW_ID, marked.str.split("\n").alias("piece"))
        .explode("piece")
        .filter(piece.str.contains(r"\S"))
        .with_row_index("piece_no")
        .with_columns(piece.str.extract(f"^([^{SPEAKER_END}]*){SPEAKER_END}", 1).alias("label"))
        .collect(engine="streaming")
    )
    is_turn = pl.col("label").is_not_null()
    body = piece.str.replace(f"^[^{SPEAKER_END}]*{SPEAKER_END}", "")
    narration_lines = (
        pieces.lazy()
        .filter(~is_turn)
        .select(*ROW_ID, "piece_no", "label", split_expr(piece).alias("sentence"))
    )
    turns = (
        pieces.lazy()
        .filter(is_turn)
        .select(
            "row",
            "url",
            "source",
            pl.col("label").alias("speaker"),
            "piece_no",
            "label",
            split_expr(body, TURN_BOUNDARY_RE).alias("sentence"),
        )
    )
    # One streaming query (it splits batches of rows on every core) flattens the fragments
    # in order (sorting rows and pieces, far fewer than fragments) and marks those with
    # text; the next numbers them per row and hashes them: hashing every fragment here, in
    # parallel, costs less than hashing the kept ones after.
    fragments = (
        pl.concat([narration, narration_lines, turns])
        .sort("row", "piece_no")
        .explode("sentence")
        .with_columns(pl.col("sentence").str.contains(HAS_TEXT_RE).alias("has_text"))
        .collect(engine="streaming")
    )
    labelled = fragments.filter(pl.col("label").is_not_null())
    sentences = (
        fragments.lazy()
        .filter("has_text")
        .with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).over("row").alias("position"),
            pl.col("sentence").str.len_chars().alias("length"),
            sentence_id_expr(pl.col("sentence")).alias("sentence_id"),
        )
        # The id as a number: the same key for the same sentence, and several times
        # faster to deduplicate on than the text or its hex (16 hex digits fit a UInt64).
        .with_columns(pl.col("sentence_id").str.to_integer(base=16, dtype=pl.UInt64).alias("key"))
        .collect(engine="streaming")
    )
    too_short = pl.col("length") < options.min_chars
    in_bounds = pl.col("length").is_between(options.min_chars, options.max_chars)
    too_short_n, in_bounds_n = sentences.select(
        too_short.sum().alias("too_short"), in_bounds.sum().alias("in_bounds")
    ).row(0)

    quarantine = too_long_quarantine(sentences, options.max_chars)
    keep = in_bounds
    if options.drop_duplicates:
        # Copies of a sentence have its length, so they are all in bounds or all out: the
        # first occurrence among all fragments is the first among those in bounds.
        keep = in_bounds & pl.col("key").is_first_distinct()
    frame = sentences.lazy().filter(keep).select(OUTPUT_COLUMNS).collect()

    stats = {
        "rows_in": df.height,
        "rows_without_text": int((~rows["text"].str.contains(r"\S")).sum()),
        "dialogue_rows": labelled["row"].n_unique(),
        "turn_segments": int(labelled["has_text"].sum()),
        "segments": sentences.height,
        "empty_segments": fragments.height - sentences.height,
        "too_short": int(too_short_n),
        "too_long": quarantine.height,
        "duplicates": int(in_bounds_n) - frame.height,
        "sentences_out": frame.height,
    }
    return SegmentResult(frame, quarantine, stats)
