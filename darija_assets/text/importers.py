"""Import dataset files (sources of kind "file") as raw_corpus rows.

Formats, chosen by ``fmt`` or by the file (``.jsonl``, ``.csv``, ``.txt``; a ``.txt`` whose
first dated line looks like a WhatsApp export is read as one):

* ``jsonl``: one JSON object per line, the text under ``text_field``; raw_corpus columns
  (url, title, publish_date, category, story, chapter_index) are taken when present.
* ``csv``: a header row, the text in column ``text_field``; same optional columns.
* ``txt``: one document per block of lines separated by blank lines.
* ``whatsapp``: an exported chat, ``21/11/2026, 22:10 - Name: message`` (Android) or
  ``[21/11/2026, 22:10:05] Name: message`` (iOS); continuation lines join their message.
  Media placeholders, deleted messages and system lines (no sender) are quarantined.
  Sender names are personal data and are not copied into the corpus.

Every row gets a ``file://<path>#L<line>`` url (unless the record has its own url),
content_hash = sha256(raw_text), crawled_at = the import time, and the source name.
A record that cannot be used (bad JSON, no text, a line that is not UTF-8 in a UTF-8
file, ...) becomes a quarantine row with its line number and reason. A file where no
non-ASCII line decodes as UTF-8 is read as windows-1256 (the usual Arabic Windows code
page), and the stats say so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import polars as pl

if TYPE_CHECKING:
    from darija_assets.sources import Source

log = logging.getLogger(__name__)

STAGE = "raw_corpus"
FALLBACK_ENCODING = "windows-1256"
RAW_CORPUS_SCHEMA = {
    "url": pl.String,
    "title": pl.String,
    "raw_text": pl.String,
    "publish_date": pl.String,
    "category": pl.String,
    "story": pl.String,
    "chapter_index": pl.Int64,
    "content_hash": pl.String,
    "crawled_at": pl.String,
    "source": pl.String,
}
QUARANTINE_SCHEMA = {
    "url": pl.String,
    "source": pl.String,
    "line": pl.Int64,
    "reason": pl.String,
    "stage": pl.String,
}
WHATSAPP_HEADER_RE = re.compile(
    r"^\u200e?\[?(?P<date>\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}),?\s+"
    r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp]\.?\s?[Mm]\.?)?)\]?"
    r"(?:\s[-\u2013]\s|\s)(?P<rest>.*)$"
)
#: Sender names may not contain ": " themselves; what follows the first one is the message.
WHATSAPP_SENDER_RE = re.compile(r"^(?P<sender>[^:]{1,80}): (?P<message>.*)$", re.DOTALL)
WHATSAPP_PLACEHOLDER_RE = re.compile(
    r"^\u200e?(?:<media omitted>|<m\u00e9dias omis>|<\u062a\u0645 \u0627\u0633\u062a\u0628\u0639\u0627\u062f"
    r" \u0627\u0644\u0648\u0633\u0627\u0626\u0637>|<attached: [^>]*>|(?:image|video|audio|sticker|gif|document)"
    r" omitted|this message was deleted|you deleted this message|"
    r"\u062a\u0645 \u062d\u0630\u0641 \u0647\u0630\u0647 \u0627\u0644\u0631\u0633\u0627\u0644\u0629|null)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ImportOptions:
    #: "jsonl", "csv", "txt", "whatsapp", or None to decide from the file
    fmt: str | None = None
    #: the field (jsonl) or column (csv) holding the text
    text_field: str = "text"
    #: WhatsApp dates are day-first ("DMY") on most phones outside the US ("MDY")
    date_order: str = "DMY"
    #: fixed import time for reproducible tables; None means now
    crawled_at: str | None = None


class ImportResult(NamedTuple):
    #: raw_corpus rows (RAW_CORPUS_SCHEMA)
    frame: pl.DataFrame
    #: url, source, line, reason, stage (QUARANTINE_SCHEMA)
    quarantine: pl.DataFrame
    #: path, format, encoding, lines, rows_out, rows_quarantined
    stats: dict


class _Collector:
    """Accumulates rows and quarantine entries for one file."""

    def __init__(self, path: Path, source: str, crawled_at: str):
        self.path = path
        self.source = source
        self.crawled_at = crawled_at
        self.rows: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []

    def line_url(self, line: int) -> str:
        return f"{self.path.as_uri()}#L{line}"

    def reject(self, line: int, reason: str) -> None:
        self.quarantine.append(
            {
                "url": self.line_url(line),
                "source": self.source,
                "line": line,
                "reason": f"line {line}: {reason}",
                "stage": STAGE,
            }
        )

    def add(self, line: int, raw_text: str, record: dict[str, Any] | None = None) -> None:
        record = record or {}
        if not raw_text.strip():
            self.reject(line, "empty text")
            return
        chapter = record.get("chapter_index")
        try:
            chapter = int(chapter) if chapter not in (None, "") else None
        except (TypeError, ValueError):
            self.reject(line, f"chapter_index {chapter!r} is not an integer")
            return
        self.rows.append(
            {
                "url": str(record.get("url") or self.line_url(line)),
                "title": str(record.get("title") or ""),
                "raw_text": raw_text,
                "publish_date": _optional_str(record.get("publish_date")),
                "category": str(record.get("category") or ""),
                "story": str(record.get("story") or ""),
                "chapter_index": chapter,
                "content_hash": hashlib.sha256(raw_text.encode("utf-8")).hexdigest(),
                "crawled_at": self.crawled_at,
                "source": self.source,
            }
        )

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (
            pl.DataFrame(self.rows, schema=RAW_CORPUS_SCHEMA),
            pl.DataFrame(self.quarantine, schema=QUARANTINE_SCHEMA),
        )


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def decode_lines(data: bytes, collector: _Collector) -> tuple[list[str], str]:
    """Split ``data`` into decoded lines and name the encoding used.

    UTF-8 (with or without BOM) unless no non-ASCII line decodes as UTF-8, in which case
    the whole file is windows-1256. In a UTF-8 file a line that does not decode is
    quarantined and left as an empty line, so line numbers stay true.
    """
    raw_lines = data.removeprefix(b"\xef\xbb\xbf").splitlines()
    decoded: list[str | None] = []
    for raw in raw_lines:
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(None)
    non_ascii_ok = sum(
        1 for raw, d in zip(raw_lines, decoded) if d is not None and not raw.isascii()
    )
    if decoded.count(None) and not non_ascii_ok:
        log.warning("%s is not UTF-8; reading it as %s", collector.path, FALLBACK_ENCODING)
        return [raw.decode(FALLBACK_ENCODING) for raw in raw_lines], FALLBACK_ENCODING
    lines = []
    for number, text in enumerate(decoded, start=1):
        if text is None:
            collector.reject(number, "not valid UTF-8 (the rest of the file is UTF-8)")
            text = ""
        lines.append(text)
    return lines, "utf-8"


def _read_jsonl(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            collector.reject(number, f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        if not isinstance(record, dict):
            collector.reject(number, f"a JSON {type(record).__name__}, not an object")
            continue
        text = record.get(options.text_field)
        if not isinstance(text, str):
            collector.reject(number, f"no string field {options.text_field!r}")
            continue
        collector.add(number, text, record)


def _read_csv(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if reader.fieldnames is None or options.text_field not in reader.fieldnames:
        raise ValueError(
            f"{collector.path}: CSV header {reader.fieldnames} has no column {options.text_field!r}"
        )
    start = reader.line_num + 1
    for record in reader:
        columns = len(reader.fieldnames)
        if None in record:  # DictReader's key for cells beyond the header
            cells = columns + len(record[None])
            collector.reject(start, f"{cells} cells where the header has {columns}")
        elif None in record.values():  # DictReader's value for missing cells
            cells = sum(value is not None for value in record.values())
            collector.reject(start, f"{cells} cells where the header has {columns}")
        else:
            collector.add(start, record[options.text_field], record)
        start = reader.line_num + 1


def _read_txt(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    block: list[str] = []
    block_start = 0
    block_index = 0

    def flush() -> None:
        nonlocal block_index
        if block:
            block_index += 1
            collector.add(
                block_start,
                "\n".join(block),
                {"story": collector.path.stem, "chapter_index": block_index},
            )

    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                block_start = number
            block.append(line)
        else:
            flush()
            block = []
    flush()


def _whatsapp_date(date: str, time: str, order: str) -> str:
    """ISO-8601 local time of a WhatsApp stamp, or the stamp itself when it does not parse."""
    parts = re.split(r"[/.\-]", date)
    first, second, year = (int(p) for p in parts)
    day, month = (first, second) if order == "DMY" else (second, first)
    year += 2000 if year < 100 else 0
    clock = re.sub(r"[\s.]", "", time).upper()
    for pattern in ("%H:%M:%S", "%H:%M", "%I:%M:%S%p", "%I:%M%p"):
        try:
            moment = datetime.strptime(clock, pattern).time()
            return datetime(year, month, day, moment.hour, moment.minute, moment.second).isoformat()
        except ValueError:
            continue
    return f"{date}, {time}"


def _read_whatsapp(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    message: dict[str, Any] | None = None

    def flush() -> None:
        if message is None:
            return
        text = "\n".join(message["lines"])
        if WHATSAPP_PLACEHOLDER_RE.match(text.strip()):
            collector.reject(message["line"], "media placeholder or deleted message, no text")
            return
        collector.add(
            message["line"],
            text,
            {"publish_date": message["date"], "category": "whatsapp", "story": collector.path.stem},
        )

    for number, line in enumerate(lines, start=1):
        header = WHATSAPP_HEADER_RE.match(line)
        if header is None:
            if message is not None:
                message["lines"].append(line)
            elif line.strip():
                collector.reject(number, "text before the first message header")
            continue
        flush()
        message = None
        sent = WHATSAPP_SENDER_RE.match(header["rest"])
        if sent is None:
            collector.reject(number, "system message (no sender)")
            continue
        try:
            date = _whatsapp_date(header["date"], header["time"], options.date_order)
        except ValueError:
            date = f"{header['date']}, {header['time']}"
        message = {"line": number, "date": date, "lines": [sent["message"]]}
    flush()


READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "txt": _read_txt, "whatsapp": _read_whatsapp}


def detect_format(path: Path, lines: list[str]) -> str:
    """The format of a file from its extension; a .txt with WhatsApp headers is "whatsapp"."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt":
        first = next((line for line in lines if line.strip()), "")
        return "whatsapp" if WHATSAPP_HEADER_RE.match(first) else "txt"
    raise ValueError(
        f"{path}: cannot tell the format from {suffix!r}; pass fmt= one of {sorted(READERS)}"
    )


def import_file(
    path: str | Path, source: str, options: ImportOptions = ImportOptions()
) -> ImportResult:
    """Read one dataset file into raw_corpus rows; see the module docstring."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"source {source!r}: no file at {path}")
    crawled_at = options.crawled_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    collector = _Collector(path, source, crawled_at)
    lines, encoding = decode_lines(path.read_bytes(), collector)
    fmt = options.fmt or detect_format(path, lines)
    if fmt not in READERS:
        raise ValueError(f"{path}: unknown format {fmt!r}; known: {sorted(READERS)}")
    if options.date_order not in ("DMY", "MDY"):
        raise ValueError(f"date_order must be 'DMY' or 'MDY', not {options.date_order!r}")
    READERS[fmt](lines, collector, options)
    frame, quarantine = collector.frames()
    stats = {
        "path": str(path),
        "format": fmt,
        "encoding": encoding,
        "lines": len(lines),
        "rows_out": frame.height,
        "rows_quarantined": quarantine.height,
    }
    return ImportResult(frame, quarantine.sort("line"), stats)


def import_source(source: Source, crawled_at: str | None = None) -> ImportResult:
    """Import a registry source of kind "file" with its importer options.

    ``source.extra`` holds ``ImportOptions`` fields (fmt, text_field, date_order, ...), as
    ``sources.load_registry`` checked them from $DARIJA_SOURCES. Raises ValueError for a
    source that is not a file source, TypeError for an option ImportOptions does not have.
    """
    if source.kind != "file" or not source.path:
        raise ValueError(f"source {source.name!r} is not a file source")
    options = ImportOptions(crawled_at=crawled_at, **source.extra)
    return import_file(source.path, source.name, options)
