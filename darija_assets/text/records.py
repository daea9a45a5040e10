"""What the records of a file source are, and how each kind enters the graph.

A file source declares ``records`` (see ``RECORD_OPTIONS`` for each kind's options):

* ``text`` (default): text only, under ``text_field``; teacher_labels asks the teacher.
* ``labels``: text under ``text_field`` and an emotion under ``label_field``. Its sentences
  get the label in teacher_labels with backend ``imported`` and the file as model; a record
  with no label (missing, null or blank) goes to the teacher as text does.
* ``instructions``: an instruction record, Alpaca (``instruction``, ``input``, ``output``) or
  chat (``messages`` of OpenAI ``role``/``content`` or ShareGPT ``conversations`` of
  ``from``/``value``: a system turn is the instruction, one user turn the input, one
  assistant turn the output), with an optional emotion under ``emotion_field`` (default:
  ``emotion_tag``, the original project's, else ``emotion``). It becomes a therapy_pairs
  row of its emotion (backend ``imported``, the answer as written), counted against the
  quota before anything is generated. The patient text (the input; an Alpaca record with an
  empty input has its text in ``instruction``) is the record's raw_corpus text.
* ``parallel``: Darija under ``darija_field`` and English under ``english_field``, with an
  optional emotion; it becomes a translations row of its emotion (backend ``imported``).

Emotions: a label as written is first mapped by ``label_map`` (exact key, else a
case-insensitive one; a null value drops the record, quarantined with that reason), then
matched case-insensitively against the label set (``JOY`` is ``Joy``). A record of kind
instructions or parallel with no emotion takes ``default_emotion`` when the source sets
one, else the label teacher_labels gives its sentences (the teacher's). A label outside the
label set is quarantined in teacher_labels with its reason, never sent to a teacher.

The file stays the table of record: raw_corpus keeps each record's text under the url
``file://<path>#L<line>``; the steps downstream read the file again (``imported_rows``)
and refuse to go on when a record no longer matches its raw_corpus row (the file changed:
import it again first). So every imported row keeps its file and line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from darija_assets.sources import Source
    from darija_assets.storage import Layout

TEXT, LABELS, INSTRUCTIONS, PARALLEL = "text", "labels", "instructions", "parallel"
RECORD_KINDS = (TEXT, LABELS, INSTRUCTIONS, PARALLEL)
#: the options each record kind may set (beyond fmt), in the order the README lists them
RECORD_OPTIONS: dict[str, tuple[str, ...]] = {
    TEXT: ("text_field",),
    LABELS: ("text_field", "label_field", "label_map"),
    INSTRUCTIONS: (
        "instruction_field",
        "input_field",
        "output_field",
        "messages_field",
        "emotion_field",
        "label_map",
        "default_emotion",
    ),
    PARALLEL: ("darija_field", "english_field", "emotion_field", "label_map", "default_emotion"),
}
#: every option that belongs to some record kind (the rest, e.g. date_order, belong to formats)
KIND_OPTIONS = frozenset(name for names in RECORD_OPTIONS.values() for name in names)
#: formats that hold records with fields
RECORD_FORMATS = ("jsonl", "csv")
#: emotion fields tried when ``emotion_field`` is not set
DEFAULT_EMOTION_FIELDS = ("emotion_tag", "emotion")
#: chat fields tried when ``messages_field`` is not set: OpenAI messages, ShareGPT conversations
DEFAULT_MESSAGES_FIELDS = ("messages", "conversations")
#: chat roles (OpenAI ``role``, ShareGPT ``from``) -> the part of an instruction record
CHAT_ROLES = {
    "system": "instruction",
    "user": "input",
    "human": "input",
    "assistant": "output",
    "gpt": "output",
    "model": "output",
}
IMPORTED_BACKEND = "imported"

#: one imported record: where it is (url = file://<path>#L<line>), its text's hash in
#: raw_corpus, and what it carries (null where its kind has no such field)
IMPORTED_SCHEMA = {
    "url": pl.String,
    "line": pl.Int64,
    "file": pl.String,
    "source": pl.String,
    "records": pl.String,
    "content_hash": pl.String,
    "label": pl.String,
    "label_as_written": pl.String,
    "instruction": pl.String,
    "input": pl.String,
    "output": pl.String,
    "darija": pl.String,
    "english": pl.String,
}


#: an imported label in teacher_labels' terms (the runner's answer columns)
LABEL_ANSWER_SCHEMA = dict.fromkeys(
    ("sentence_id", "label", "backend", "model", "raw_answer"), pl.String
)
#: teacher_labels' quarantine columns
LABEL_QUARANTINE_SCHEMA = dict.fromkeys(
    ("sentence_id", "sentence", "url", "source", "backend", "model", "reason", "raw", "stage"),
    pl.String,
)


class RecordError(ValueError):
    """A record that cannot be imported as its kind; the message is the quarantine reason."""


def check_options(options: Mapping[str, Any]) -> None:
    """Raise ValueError when record options do not fit together: an unknown ``records``, an
    option of another kind (``label_field`` on text records), a format without fields, a
    ``label_map`` that is not names to names or null, an unknown ``default_emotion``."""
    from darija_assets.partitions import EMOTIONS

    kind = options.get("records", TEXT)
    if kind not in RECORD_KINDS:
        raise ValueError(f"records must be one of {list(RECORD_KINDS)}, not {kind!r}")
    foreign = sorted(
        key for key in options if key in KIND_OPTIONS and key not in RECORD_OPTIONS[kind]
    )
    if foreign:
        raise ValueError(
            f"{foreign} do not apply to records {kind!r} (its options: "
            f"{list(RECORD_OPTIONS[kind])}); set 'records' to the kind they belong to"
        )
    if kind != TEXT and options.get("fmt") not in (None, *RECORD_FORMATS):
        raise ValueError(f"records {kind!r} need a format with fields: {list(RECORD_FORMATS)}")
    for key in KIND_OPTIONS - {"label_map", "default_emotion"}:
        value = options.get(key)
        if key in options and value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{key!r} must name a field")
    label_map = options.get("label_map")
    if label_map is not None and (
        not isinstance(label_map, dict)
        or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in label_map.items()
        )
    ):
        raise ValueError("'label_map' must map label names to label names (or to null to drop)")
    default = options.get("default_emotion")
    if default is not None and canonical_label(default, EMOTIONS) is None:
        raise ValueError(f"default_emotion {default!r} is not one of {list(EMOTIONS)}")


def required_columns(options: Any) -> list[str]:
    """The CSV columns a record kind cannot do without (``options``: ImportOptions)."""
    kind = options.records
    if kind == INSTRUCTIONS:
        return [options.output_field]
    if kind == PARALLEL:
        return [options.darija_field, options.english_field]
    if kind == LABELS:
        return [options.text_field, options.label_field]
    return [options.text_field]


def canonical_label(label: str | None, label_set: Iterable[str]) -> str | None:
    """``label`` spelt as in ``label_set`` (compared case-insensitively), or None."""
    if label is None:
        return None
    folded = label.strip().casefold()
    return next((name for name in label_set if name.casefold() == folded), None)


def _field(record: Mapping[str, Any], name: str) -> str | None:
    """A field as text: None when absent, null or blank; RecordError when not a string or
    a number (CSV cells are always strings; a JSON label may be written as a number)."""
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is a JSON {type(value).__name__}, not text")
    return value if value.strip() else None


def _mapped_label(written: str | None, label_map: Mapping[str, str | None] | None) -> str | None:
    """The label after ``label_map``; RecordError when the map drops it."""
    if written is None or not label_map:
        return written
    key = written if written in label_map else None
    if key is None:
        folded = written.strip().casefold()
        key = next((k for k in label_map if k.strip().casefold() == folded), None)
    if key is None:
        return written
    if label_map[key] is None:
        raise RecordError(f"label {written!r} is dropped by label_map")
    return label_map[key]


def _emotion(record: Mapping[str, Any], options: Any) -> str | None:
    names = (options.emotion_field,) if options.emotion_field else DEFAULT_EMOTION_FIELDS
    for name in names:
        if (value := _field(record, name)) is not None:
            return value
    return None


def _chat_parts(turns: Any, field: str) -> dict[str, str]:
    """instruction / input / output of a one-exchange chat (OpenAI or ShareGPT turns)."""
    if not isinstance(turns, list) or not turns:
        raise RecordError(f"field {field!r} is not a list of turns")
    parts: dict[str, list[str]] = {"instruction": [], "input": [], "output": []}
    order = []
    for number, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise RecordError(f"turn {number} of {field!r} is not an object")
        role = turn.get("role", turn.get("from"))
        text = turn.get("content", turn.get("value"))
        part = CHAT_ROLES.get(str(role).casefold())
        if part is None:
            raise RecordError(f"turn {number} of {field!r} has role {role!r}")
        if not isinstance(text, str) or not text.strip():
            raise RecordError(f"turn {number} of {field!r} ({role}) has no text")
        parts[part].append(text)
        order.append(part)
    users, answers = len(parts["input"]), len(parts["output"])
    if users != 1 or answers != 1 or order.index("input") > order.index("output"):
        raise RecordError(
            f"{users} user and {answers} assistant turns in {field!r}: an instruction record "
            "is one user turn answered by one assistant turn"
        )
    return {
        "instruction": "\n".join(parts["instruction"]) or None,
        "input": parts["input"][0],
        "output": parts["output"][0],
    }


def parse_record(record: Mapping[str, Any], options: Any) -> tuple[str, dict[str, Any]]:
    """The raw_corpus text of one record and what it carries (IMPORTED_SCHEMA's label,
    label_as_written, instruction, input, output, darija, english). ``options`` is an
    ``ImportOptions``. Raises RecordError with the reason when the record is unusable."""
    kind = options.records
    if kind == TEXT:
        text = record.get(options.text_field)
        if not isinstance(text, str):
            raise RecordError(f"no string field {options.text_field!r}")
        return text, {}
    carried: dict[str, Any] = {}
    if kind == LABELS:
        text = _field(record, options.text_field)
        if text is None:
            raise RecordError(f"no text under {options.text_field!r}")
        written = _field(record, options.label_field)
    elif kind == INSTRUCTIONS:
        names = (options.messages_field,) if options.messages_field else DEFAULT_MESSAGES_FIELDS
        chat = next((name for name in names if name in record), None)
        if chat is not None:
            parts = _chat_parts(record[chat], chat)
        else:
            parts = {
                "instruction": _field(record, options.instruction_field),
                "input": _field(record, options.input_field),
                "output": _field(record, options.output_field),
            }
            if parts["input"] is None:  # Alpaca's single-field form: the text is the instruction
                parts["input"], parts["instruction"] = parts["instruction"], None
        if parts["output"] is None:
            raise RecordError(f"no answer under {options.output_field!r}")
        if parts["input"] is None:
            raise RecordError(
                f"no patient text under {options.input_field!r} or {options.instruction_field!r}"
            )
        carried.update(parts)
        text = parts["input"]
        written = _emotion(record, options)
    else:  # PARALLEL
        darija = _field(record, options.darija_field)
        english = _field(record, options.english_field)
        if darija is None or english is None:
            missing = [
                n
                for n, v in ((options.darija_field, darija), (options.english_field, english))
                if v is None
            ]
            raise RecordError(f"no text under {missing}")
        carried.update(darija=darija, english=english)
        text = darija
        written = _emotion(record, options)
    carried["label_as_written"] = written
    carried["label"] = _mapped_label(written, options.label_map)
    return text, carried


# --- downstream: the steps that turn imported records into rows -----------------------------


def imported_rows(source: Source, layout: Layout) -> pl.DataFrame:
    """The imported records of ``source`` (IMPORTED_SCHEMA), read from its file again and
    checked against its raw_corpus table; an empty frame for text and crawled sources.

    Raises ValueError when raw_corpus is not materialized or when a record's text no longer
    matches its raw_corpus row (the file changed since: materialize raw_corpus again).
    """
    if source.kind != "file" or source.extra.get("records", TEXT) == TEXT:
        return pl.DataFrame(schema=IMPORTED_SCHEMA)
    from darija_assets.text.importers import import_records

    table = layout.table("raw_corpus", source.name)
    if not table.exists():
        raise ValueError(f"source {source.name!r}: raw_corpus is not materialized yet")
    _, rows = import_records(source)
    corpus = pl.read_parquet(table, columns=["url", "content_hash"])
    stale = rows.join(corpus, on="url", how="left", suffix="_corpus").filter(
        pl.col("content_hash_corpus").is_null()
        | (pl.col("content_hash_corpus") != pl.col("content_hash"))
    )
    if stale.height:
        raise ValueError(
            f"source {source.name!r}: {stale.height} records of {source.path} differ from "
            f"raw_corpus (first at line {stale['line'].min()}): the file changed since it was "
            "imported; materialize raw_corpus, clean_text, sentences and teacher_labels for it again"
        )
    return rows


def record_id(row: Mapping[str, Any]) -> str:
    """A stable id for an imported record: its file line and its text's hash."""
    digest = hashlib.sha256(f"{row['url']}\x1f{row['content_hash']}".encode()).hexdigest()
    return f"imported-{digest[:16]}"


def label_rows(
    sentences: pl.DataFrame, imported: pl.DataFrame, label_set: list[str], default: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labels for the sentences of imported records, without a teacher.

    ``sentences``: the sentences partition (sentence_id, sentence, url, source);
    ``imported``: ``imported_rows`` of its source; ``default``: the source's
    ``default_emotion``. Returns (answers: sentence_id, label, backend "imported", model =
    the file, raw_answer = the label as written; quarantine: sentence_id, sentence, url,
    source, backend, model, reason, raw, stage). Sentences of records with no label (and no
    default) are in neither: they go to the teacher.
    """
    if imported.height == 0:
        return pl.DataFrame(schema=LABEL_ANSWER_SCHEMA), pl.DataFrame(
            schema=LABEL_QUARANTINE_SCHEMA
        )
    records = imported.with_columns(
        pl.col("label").fill_null(pl.lit(default, pl.String)) if default else pl.col("label")
    ).filter(pl.col("label").is_not_null())
    joined = sentences.select("sentence_id", "sentence", "url", "source").join(
        records.select("url", "line", "file", "label", "label_as_written"),
        on="url",
        maintain_order="left",
    )
    canon = [canonical_label(label, label_set) for label in joined["label"]]
    joined = joined.with_columns(
        pl.Series("canonical", canon, dtype=pl.String),
        pl.lit(IMPORTED_BACKEND).alias("backend"),
        pl.col("file").alias("model"),
    )
    answers = joined.filter(pl.col("canonical").is_not_null()).select(
        "sentence_id",
        pl.col("canonical").alias("label"),
        "backend",
        "model",
        pl.col("label_as_written").fill_null(pl.col("label")).alias("raw_answer"),
    )
    quarantine = joined.filter(pl.col("canonical").is_null()).select(
        "sentence_id",
        "sentence",
        "url",
        "source",
        "backend",
        "model",
        pl.concat_str(
            pl.lit("imported label '"),
            pl.col("label"),
            pl.lit("' (line "),
            pl.col("line").cast(pl.String),
            pl.lit(f") is not in the label set {label_set}: map it with label_map"),
        ).alias("reason"),
        pl.col("label_as_written").fill_null(pl.col("label")).alias("raw"),
        pl.lit("teacher_labels").alias("stage"),
    )
    return answers, quarantine


def place_by_emotion(
    imported: pl.DataFrame,
    labels: pl.DataFrame | None,
    emotions: Iterable[str],
    default: str | None,
) -> tuple[pl.DataFrame, Counter]:
    """``imported`` with its ``emotion``: its own label (label_map applied, matched to
    ``emotions``), else ``default``, else the most common label teacher_labels gave the
    record's sentences (``labels``: teacher_labels rows with url and label; ties go to the
    label of the record's first sentence). Rows with no emotion are left out and counted
    by reason in the returned Counter."""
    emotions = list(emotions)
    by_url: dict[str, list[str]] = {}
    if labels is not None and labels.height:
        for url, label in labels.select("url", "label").iter_rows():
            by_url.setdefault(url, []).append(label)
    placed, unplaced = [], Counter()
    for row in imported.iter_rows(named=True):
        label = row["label"] if row["label"] is not None else default
        if label is not None:
            emotion = canonical_label(label, emotions)
            if emotion is None:
                unplaced[f"label {label!r} is not an emotion of {emotions}"] += 1
                continue
        else:
            found = by_url.get(row["url"], [])
            if not found:
                unplaced["no emotion and no teacher label yet (materialize teacher_labels)"] += 1
                continue
            counts = Counter(found)
            top = max(counts.values())
            emotion = canonical_label(next(x for x in found if counts[x] == top), emotions)
            if emotion is None:
                unplaced["the teacher's label is not an emotion"] += 1
                continue
        placed.append({**row, "emotion": emotion})
    schema = {**IMPORTED_SCHEMA, "emotion": pl.String}
    return pl.DataFrame(placed, schema=schema), unplaced


def imported_of_kind(
    kind: str, layout: Layout, labels: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame, Counter]:
    """Every declared file source's records of ``kind`` (instructions or parallel).

    Returns (all: ``imported_rows`` of those sources; placed: those with an ``emotion``,
    see ``place_by_emotion``; unplaced: reason -> count). ``labels``: teacher_labels rows
    of all sources (url, label), for records with no emotion of their own.
    """
    from darija_assets.partitions import EMOTIONS
    from darija_assets.sources import load_registry

    every, placed, unplaced = [], [], Counter()
    for source in load_registry().sources.values():
        if source.kind != "file" or source.extra.get("records", TEXT) != kind:
            continue
        rows = imported_rows(source, layout)
        here, missing = place_by_emotion(
            rows, labels, EMOTIONS, source.extra.get("default_emotion")
        )
        every.append(rows)
        placed.append(here)
        unplaced.update({f"{source.name}: {reason}": n for reason, n in missing.items()})
    return (
        pl.concat(every) if every else pl.DataFrame(schema=IMPORTED_SCHEMA),
        pl.concat(placed)
        if placed
        else pl.DataFrame(schema={**IMPORTED_SCHEMA, "emotion": pl.String}),
        unplaced,
    )
