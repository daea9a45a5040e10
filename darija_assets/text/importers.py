"""Import dataset files (sources of kind "file") as raw_corpus rows.

Formats, chosen by ``fmt`` or by the file (``.jsonl``, ``.csv``, ``.txt``; a ``.txt`` with a
WhatsApp message header among its first DETECT_LINES non-empty lines is read as one):

* ``jsonl``: one JSON object per line, the text under ``text_field``; raw_corpus columns
  (url, title, publish_date, category, story, chapter_index) are taken when present.
* ``csv``: a header row, the text in column ``text_field``; same optional columns.
* ``txt``: one document per block of lines separated by blank lines.
* ``whatsapp``: an exported chat, one row per message; continuation lines join their message.
* ``sessions``: therapy-session JSON (``.json``, or JSONL with fmt ``sessions``), one row per
  turn with its speaker's pseudonym (see conversations/sessions.py).

A jsonl or csv record can carry more than text (``records``: labels, instruction records,
parallel text; see text/records.py): its text is a raw_corpus row under its line's url, and
``import_file_records`` also returns what it carries, one row per record.

WhatsApp exports, as phones write them in any locale:

* Headers: ``21/11/2026, 22:10 - Name: text`` (Android) and ``[21/11/2026, 22:10:05] Name:
  text`` (iOS), with the comma "," / Arabic "،" / none, 24h or 12h (``PM``, ``p. m.``, Arabic
  ``م``/``ص``) after a space, NBSP or NNBSP, with or without seconds, "-" or "–", ASCII,
  Arabic-Indic or Eastern Arabic-Indic digits, U+200E/U+200F marks anywhere in the stamp and
  before "[", LF or CRLF line ends. Bodies are kept as written (digits and marks included:
  cleaning them is clean_text's job).
* Day and month order: ``date_order`` ("DMY" or "MDY"), else read from the file (see
  ``decide_date_order``); the stats give ``date_order`` and ``date_order_basis``, which starts
  with "ambiguous" when the file could not tell.
* Not messages, quarantined with their reason: system lines (no sender; or a CHAT_PHRASES
  notice or event, also under the chat's name or a phone number as iOS writes them; or an
  iOS body starting with U+200E/U+200F that no phrase names), media placeholders, deleted
  messages, a stamp whose date does not exist, lines that start with a date and time but do
  not parse as a header (never glued to the previous message), text before the first header.
  The "edited" marker is stripped and its message kept; a media line followed by a caption
  keeps the caption. The locale strings live in one table, CHAT_PHRASES, each with its
  source.
* A ``.txt`` that starts with dated lines none of which parses as a header is refused
  (ValueError naming the line): read as plain text it would put names and stamps in the corpus.
* People: sender names and phone numbers never reach ``raw_text``. Each sender becomes
  ``speaker_1``, ``speaker_2``, ... (order of first message in the file; a phone number is
  one sender whatever its spacing) in the ``speaker`` column. In bodies, an @mention of a
  sender becomes ``@speaker_N``, any other @mention MENTION_MASK, and every phone number
  PHONE_MASK (``speaker_N`` when it is a sender's). Names written without "@" are left as they
  are. The file name in urls and stats has sender names replaced too ("WhatsApp Chat with
  Sara.txt" is shown as "WhatsApp Chat with speaker_1.txt").

Our own parser rather than a library, because the public ones fail exactly these exports:
chat-miner 0.6.0 raises IndexError on shared/cases/4 and 6 (Arabic locale) and keeps case 9's
placeholders as messages, and whatstk's header inference is the subject of cases 1 and 2.

Every row gets a ``file://<path>#L<line>`` url (unless the record has its own url),
content_hash = sha256(raw_text), crawled_at = the import time, the source name, and a
``speaker`` (null except for chats). A record that cannot be used (bad JSON, no text, a line
that is not UTF-8 in a UTF-8 file, ...) becomes a quarantine row with its line number and
reason. A file where no non-ASCII line decodes as UTF-8 is read as windows-1256 (the usual
Arabic Windows code page), and the stats say so.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import pairwise
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
    #: chat rows: the sender's pseudonym (speaker_1, ...); null for other rows
    "speaker": pl.String,
}
QUARANTINE_SCHEMA = {
    "url": pl.String,
    "source": pl.String,
    "line": pl.Int64,
    "reason": pl.String,
    "stage": pl.String,
}


@dataclass(frozen=True)
class ImportOptions:
    #: "jsonl", "csv", "txt", "whatsapp", or None to decide from the file
    fmt: str | None = None
    #: the field (jsonl) or column (csv) holding the text
    text_field: str = "text"
    #: WhatsApp dates: "DMY" (most phones outside the US) or "MDY" (US); None decides from
    #: the file (see decide_date_order). A four-digit first field is always the year.
    date_order: str | None = None
    #: what each record is: "text", "labels", "instructions" or "parallel" (text/records.py)
    records: str = "text"
    #: labels: the field (column) holding each record's emotion label
    label_field: str = "label"
    #: labels, instructions, parallel: label names as written -> names of the label set;
    #: a null value drops the records with that label (quarantined with the reason)
    label_map: dict | None = None
    #: instructions (Alpaca): the instruction, the patient's text and the therapist's answer
    instruction_field: str = "instruction"
    input_field: str = "input"
    output_field: str = "output"
    #: instructions (chat): the list of turns; None tries "messages", then "conversations"
    messages_field: str | None = None
    #: instructions, parallel: the emotion (or category) field; None tries "emotion_tag",
    #: then "emotion"
    emotion_field: str | None = None
    #: instructions, parallel: the emotion of records that have none (None: the teacher's)
    default_emotion: str | None = None
    #: parallel: the Darija text and its English translation
    darija_field: str = "darija"
    english_field: str = "english"
    #: chat exports and session files: how conversations[source] reads them and builds
    #: examples (conversations/options.py ConversationOptions; None: its defaults)
    conversations: dict | None = None
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
        #: what the reader adds to the import stats
        self.stats: dict[str, Any] = {}
        #: the path urls and stats show
        self.shown_path = path
        #: what records of a kind other than text carry (text/records.py IMPORTED_SCHEMA)
        self.imported: list[dict[str, Any]] = []

    def rename(self, name: str) -> None:
        """Show the file as ``name`` (a chat export's file name can hold a person's name)."""
        self.shown_path = self.path.with_name(name)

    def line_url(self, line: int) -> str:
        return f"{self.shown_path.as_uri()}#L{line}"

    def reject(self, line: int, reason: str) -> None:
        self.quarantine.append(
            {
                "url": None,  # set by frames(), once the file's shown name is known
                "source": self.source,
                "line": line,
                "reason": f"line {line}: {reason}",
                "stage": STAGE,
            }
        )

    def add(
        self,
        line: int,
        raw_text: str,
        record: dict[str, Any] | None = None,
        speaker: str | None = None,
    ) -> None:
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
                "speaker": speaker,
            }
        )

    def take(self, line: int, record: dict[str, Any], options: ImportOptions) -> None:
        """Add one record of a jsonl or csv file as its kind (``options.records``) says."""
        from darija_assets.text.records import TEXT, RecordError, parse_record

        try:
            text, carried = parse_record(record, options)
        except RecordError as err:
            self.reject(line, str(err))
            return
        if options.records == TEXT:
            self.add(line, text, record)
            return
        # Imported records are traced by their line: the url is always the line's.
        kept = len(self.rows)
        self.add(line, text, {k: v for k, v in record.items() if k != "url"})
        if len(self.rows) > kept:
            row = self.rows[-1]
            self.imported.append(
                {
                    "url": row["url"],
                    "line": line,
                    "file": str(self.shown_path),
                    "source": self.source,
                    "records": options.records,
                    "content_hash": row["content_hash"],
                    **carried,
                }
            )

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (
            pl.DataFrame(self.rows, schema=RAW_CORPUS_SCHEMA),
            pl.DataFrame(
                [{**row, "url": self.line_url(row["line"])} for row in self.quarantine],
                schema=QUARANTINE_SCHEMA,
            ),
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
        collector.take(number, record, options)


def _read_csv(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    from darija_assets.text.records import required_columns

    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    for column in required_columns(options):
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise ValueError(
                f"{collector.path}: CSV header {reader.fieldnames} has no column {column!r}"
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
            collector.take(start, record, options)
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


# --- WhatsApp chat exports ---------------------------------------------------------------

#: Bidi controls found in exports: LRM U+200E and RLM U+200F (iOS puts one before system and
#: media lines, Arabic locales put them inside the date and before "["), ALM U+061C, the
#: embeddings U+202A-U+202E and the isolates U+2066-U+2069 (iOS wraps @mentions in them).
BIDI_MARKS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_M = f"[{BIDI_MARKS}]*"
#: ASCII, Arabic-Indic (U+0660-U+0669) and Eastern Arabic-Indic (U+06F0-U+06F9) digits
_D = "[0-9\u0660-\u0669\u06f0-\u06f9]"
#: space, NBSP and NNBSP (iOS and recent Android put U+202F before AM/PM)
_S = "[ \u00a0\u202f]"
#: the stamp as ASCII: marks dropped, digits and the Arabic comma mapped, no-break spaces made spaces
_STAMP_TO_ASCII = str.maketrans(
    {
        **{ord(mark): None for mark in BIDI_MARKS},
        **{0x0660 + i: str(i) for i in range(10)},
        **{0x06F0 + i: str(i) for i in range(10)},
        0x060C: ",",
        0x00A0: " ",
        0x202F: " ",
    }
)
_MERIDIEM = rf"(?:[AaPp]\.?{_S}?[Mm]\.?|[\u0645\u0635])"  # am, p. m., م (PM), ص (AM)
_DATE = rf"{_D}{{1,4}}{_M}[/.\-]{_M}{_D}{{1,2}}{_M}[/.\-]{_M}{_D}{{2,4}}"
_TIME = rf"{_D}{{1,2}}{_M}[:.]{_M}{_D}{{2}}(?:{_M}[:.]{_M}{_D}{{2}})?(?:{_M}{_S}*{_M}{_MERIDIEM})?"
#: One message header: ``[date, time] rest`` (iOS) or ``date, time - rest`` (Android), the
#: comma being "," / "،" / absent (or French " à ", which some parsers accept; no export of
#: ours shows it), the dash "-" / "–", and marks allowed between any two parts.
WHATSAPP_HEADER_RE = re.compile(
    rf"^{_M}(?P<open>\[)?{_M}(?P<date>{_DATE}){_M}[,\u060c]?{_M}{_S}+(?:à{_S}+)?{_M}"
    rf"(?P<time>{_TIME}){_M}"
    rf"(?(open)\]{_S}*|{_S}*[-\u2013]{_S}+)(?P<rest>.*)$"
)
#: A line that starts with a date and a time like a header, whatever follows ("10h01" too).
CHAT_STAMP_RE = re.compile(rf"^{_M}\[?{_M}{_DATE}\D{{1,8}}{_D}{{1,2}}{_M}[:.h]{_M}{_D}{{2}}")
#: Sender names may not contain ": " themselves; what follows the first one is the message.
WHATSAPP_SENDER_RE = re.compile(r"^(?P<sender>[^:\n]{1,80}): (?P<message>.*)$", re.DOTALL)
#: bidi marks and tashkeel (some WhatsApp strings carry it: "لقد حذَفت"), ignored in phrases
_IGNORED_IN_PHRASES_RE = re.compile(f"[{BIDI_MARKS}\u064b-\u065f\u0670]")


@dataclass(frozen=True)
class ChatPhrase:
    """One string WhatsApp writes into exports instead of (or after) a person's text.

    ``text`` is matched against the whole message (``where="whole"``), its start or its end,
    ignoring case, bidi marks, tashkeel, runs of spaces and a final period; in a whole-message
    phrase ``{name}`` stands for a member (no ":") and ``{text}`` for anything.
    """

    kind: str  # encryption | event | call | media | deleted | pending | edited
    locale: str  # en | fr | es | ar
    text: str
    source: str
    where: str = "whole"  # whole | start | end


_SRC_WHATS_JSON = "starkdmi/whats_json test/data/languages/{}_ios.txt (real iOS exports)"
_SRC_PUBLIC = "WhatsApp Android export, as matched by public parsers (chat-miner, whatstk tests)"
_SRC_CASES = "shared/cases/{} (a reported export)"
_SRC_FR_PARSER = (
    "a public French WhatsApp parser's keyword list (code search); exact wording unverified"
)
_SRC_MEMORY = "WhatsApp UI string as commonly exported; not checked against a real export"

#: Every WhatsApp string the importer recognises, per locale, with where it was seen. Strings
#: not listed are still caught by structure: a dated line with no "Name: " is a system line,
#: and an iOS body that starts with U+200E/U+200F is a system or media line.
CHAT_PHRASES: tuple[ChatPhrase, ...] = (
    # The end-to-end encryption notice (first line of every chat; iOS puts it under the
    # chat's name or a phone number, Android has no sender).
    ChatPhrase("encryption", "en", "Messages and calls are end-to-end encrypted", _SRC_PUBLIC, "start"),
    ChatPhrase("encryption", "en", "Messages to this group are now secured with end-to-end encryption", _SRC_PUBLIC, "start"),
    ChatPhrase("encryption", "en", "Messages to this chat and calls are now secured with end-to-end encryption", _SRC_PUBLIC, "start"),
    ChatPhrase("encryption", "en", "Messages you send to this chat and calls are now secured with end-to-end encryption", _SRC_PUBLIC, "start"),
    ChatPhrase("encryption", "fr", "Les messages et les appels sont chiffrés de bout en bout", _SRC_WHATS_JSON.format("french"), "start"),
    ChatPhrase("encryption", "es", "Los mensajes y las llamadas están cifrados de extremo a extremo", _SRC_WHATS_JSON.format("spanish"), "start"),
    ChatPhrase("encryption", "ar", "الرسائل والمكالمات مشفرة", _SRC_WHATS_JSON.format("arabic"), "start"),
    # Group and contact events.
    ChatPhrase("event", "en", "{name} created group {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} created this group", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} added {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} removed {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} left", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} joined using this group's invite link", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} joined using {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} changed the subject {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} changed this group's icon", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} deleted this group's icon", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} changed the group description", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} changed their phone number {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "{name} changed to {name}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "Your security code with {text}", _SRC_PUBLIC),
    ChatPhrase("event", "en", "You were added", _SRC_PUBLIC),
    ChatPhrase("event", "fr", "{name} a créé le groupe {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a ajouté {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} vous a ajouté", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a retiré {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a été retiré", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} est parti", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} est partie", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a quitté {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a rejoint en utilisant {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a modifié le sujet {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a changé le sujet {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "{name} a changé l'icône {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "fr", "Le code de sécurité {text}", _SRC_FR_PARSER),
    ChatPhrase("event", "es", "{name} creó el grupo {text}", _SRC_MEMORY),
    ChatPhrase("event", "es", "{name} añadió a {text}", _SRC_MEMORY),
    ChatPhrase("event", "es", "{name} salió del grupo", _SRC_MEMORY),
    ChatPhrase("event", "es", "{name} se unió usando {text}", _SRC_MEMORY),
    ChatPhrase("event", "es", "{name} cambió el asunto {text}", _SRC_MEMORY),
    ChatPhrase("event", "ar", "{name} انضم باستخدام رابط الدعوة {text}", _SRC_MEMORY),
    ChatPhrase("event", "ar", "{name} غادر", _SRC_MEMORY),
    ChatPhrase("event", "ar", "{name} أضاف {text}", _SRC_MEMORY),
    ChatPhrase("event", "ar", "{name} أنشأ المجموعة {text}", _SRC_MEMORY),
    ChatPhrase("call", "en", "Missed voice call", _SRC_MEMORY),
    ChatPhrase("call", "en", "Missed video call", _SRC_MEMORY),
    # Media placeholders.
    ChatPhrase("media", "en", "<Media omitted>", _SRC_PUBLIC),
    ChatPhrase("media", "en", "<{text} omitted>", _SRC_MEMORY),  # <View once voice message omitted>, ...
    ChatPhrase("media", "en", "<attached: {text}>", _SRC_CASES.format("9_wa_lrm_media_lines")),
    ChatPhrase("media", "en", "(file attached)", _SRC_MEMORY, "end"),
    ChatPhrase("media", "en", "null", "WhatsApp Android view-once media (public parsers)"),
    ChatPhrase("media", "en", "image omitted", _SRC_CASES.format("9_wa_lrm_media_lines")),
    ChatPhrase("media", "en", "video omitted", _SRC_WHATS_JSON.format("english")),
    ChatPhrase("media", "en", "audio omitted", _SRC_WHATS_JSON.format("english")),
    ChatPhrase("media", "en", "sticker omitted", _SRC_WHATS_JSON.format("english")),
    ChatPhrase("media", "en", "GIF omitted", _SRC_WHATS_JSON.format("english")),
    ChatPhrase("media", "en", "Contact card omitted", _SRC_WHATS_JSON.format("english")),
    ChatPhrase("media", "en", "document omitted", _SRC_WHATS_JSON.format("english"), "end"),
    ChatPhrase("media", "fr", "<Médias omis>", _SRC_FR_PARSER),
    ChatPhrase("media", "fr", "(fichier joint)", _SRC_FR_PARSER, "end"),
    ChatPhrase("media", "fr", "image absente", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "vidéo absente", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "audio omis", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "sticker omis", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "GIF retiré", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "Fiche contact manquante", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("media", "fr", "document manquant", _SRC_WHATS_JSON.format("french"), "end"),
    ChatPhrase("media", "fr", "document omis", _SRC_FR_PARSER, "end"),
    ChatPhrase("media", "es", "<Multimedia omitido>", _SRC_FR_PARSER),
    ChatPhrase("media", "es", "<{text} omitido>", _SRC_MEMORY),
    ChatPhrase("media", "es", "imagen omitida", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "video omitido", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "audio omitido", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "sticker omitido", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "GIF omitido", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "Tarjeta de contacto omitida", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("media", "es", "documento omitido", _SRC_WHATS_JSON.format("spanish"), "end"),
    ChatPhrase("media", "ar", "<تم استبعاد الوسائط>", _SRC_CASES.format("6_wa_android_arabic_comma")),
    ChatPhrase("media", "ar", "لم يتم إدراج الصورة", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "لم يتم إدراج الفيديوهات", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "لم يتم إدراج المقاطع الصوتية", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "لم يتم إدراج بطاقة جهة اتصال", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "لم يتم إدراج صورة GIF", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "تم حذف الملصقات", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("media", "ar", "لم يتم إدراج المستند", _SRC_WHATS_JSON.format("arabic"), "end"),
    # Deleted messages.
    ChatPhrase("deleted", "en", "This message was deleted", _SRC_PUBLIC),
    ChatPhrase("deleted", "en", "You deleted this message", _SRC_PUBLIC),
    ChatPhrase("deleted", "fr", "Ce message a été supprimé", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("deleted", "fr", "Vous avez supprimé ce message", _SRC_WHATS_JSON.format("french")),
    ChatPhrase("deleted", "es", "Se eliminó este mensaje", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("deleted", "es", "Eliminaste este mensaje", _SRC_WHATS_JSON.format("spanish")),
    ChatPhrase("deleted", "ar", "تم حذف هذه الرسالة", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("deleted", "ar", "أنت حذفت هذه الرسالة", _SRC_WHATS_JSON.format("arabic")),
    ChatPhrase("deleted", "ar", "لقد حذفت هذه الرسالة", _SRC_WHATS_JSON.format("arabic")),
    # A message the exporting phone never received.
    ChatPhrase("pending", "en", "Waiting for this message{text}", _SRC_MEMORY),
    ChatPhrase("pending", "fr", "En attente de ce message{text}", _SRC_MEMORY),
    ChatPhrase("pending", "es", "Esperando el mensaje{text}", _SRC_MEMORY),
    # The "edited" marker appended to an edited message: stripped, the message is kept.
    ChatPhrase("edited", "en", "<This message was edited>", "koftezz/whatsapp-chat-analyzer#18", "end"),
    ChatPhrase("edited", "ar", "<تم تعديل هذه الرسالة>", _SRC_CASES.format("8_wa_edited_marker"), "end"),
    ChatPhrase("edited", "fr", "<Ce message a été modifié>", _SRC_FR_PARSER, "end"),
    ChatPhrase("edited", "es", "<Se editó este mensaje.>", _SRC_MEMORY, "end"),
    ChatPhrase("edited", "es", "<Se editó este mensaje>", _SRC_FR_PARSER, "end"),
)  # fmt: skip

#: what a quarantine reason says for each kind
_KIND_REASONS = {
    "encryption": "system message (the end-to-end encryption notice)",
    "event": "system message (a group or contact event)",
    "call": "system message (a call notice)",
    "media": "media placeholder, no text",
    "deleted": "deleted message, no text",
    "pending": "message the exporting phone never received, no text",
}
_SLOTS = {"{name}": r"[^:\n]{1,80}?", "{text}": r".+?"}


def _plain(text: str) -> str:
    """``text`` as phrases are matched: no bidi marks or tashkeel, single spaces."""
    return " ".join(_IGNORED_IN_PHRASES_RE.sub("", text).split())


def _phrase_pattern(phrase: ChatPhrase) -> str:
    parts = re.split(r"(\{name\}|\{text\})", _plain(phrase.text).rstrip("."))
    body = "".join(
        _SLOTS[part] if part in _SLOTS else r"\s+".join(map(re.escape, part.split(" ")))
        for part in parts
    )
    return rf"{body}\.?$" if phrase.where == "whole" else body


@functools.cache
def _phrase_matchers(
    kinds: tuple[str, ...], with_names: bool
) -> tuple[re.Pattern | None, list[ChatPhrase], list[tuple[str, ChatPhrase]]]:
    """For the phrases of ``kinds``: one regex matched at the start of a message for the
    "whole" and "start" phrases (alternative ``p<i>`` is phrase i of the list), and the
    casefolded endings of the "end" phrases (which have no slots)."""
    chosen = [p for p in CHAT_PHRASES if p.kind in kinds and (with_names or "{name}" not in p.text)]
    anchored = [p for p in chosen if p.where != "end"]
    alternatives = "|".join(f"(?P<p{i}>{_phrase_pattern(p)})" for i, p in enumerate(anchored))
    regex = re.compile(alternatives, re.IGNORECASE | re.DOTALL) if anchored else None
    endings = [(_plain(p.text).rstrip(".").casefold(), p) for p in chosen if p.where == "end"]
    return regex, anchored, endings


def match_phrase(text: str, kinds: tuple[str, ...], with_names: bool = True) -> ChatPhrase | None:
    """The first CHAT_PHRASES entry of one of ``kinds`` that ``text`` matches, or None;
    ``with_names=False`` leaves out the phrases with a ``{name}`` slot."""
    regex, anchored, endings = _phrase_matchers(kinds, with_names)
    plain = _plain(text)
    if regex is not None and (found := regex.match(plain)) is not None:
        return anchored[int(found.lastgroup[1:])]
    folded = plain.rstrip(".").casefold()
    return next((p for ending, p in endings if folded.endswith(ending)), None)


_EDITED_RE = re.compile(
    rf"[\s{BIDI_MARKS}]*(?:%s)[\s{BIDI_MARKS}]*$"
    % "|".join(
        r"\s+".join(map(re.escape, p.text.split(" "))) for p in CHAT_PHRASES if p.kind == "edited"
    ),
    re.IGNORECASE,
)


def strip_edited_marker(text: str) -> tuple[str, bool]:
    """``text`` without a trailing "edited" marker (any locale), and whether it had one."""
    stripped, found = _EDITED_RE.subn("", text, count=1)
    return stripped, bool(found)


_SYSTEM_KINDS = ("encryption", "event", "call")
_NO_TEXT_KINDS = ("media", "deleted", "pending")
_PHONE_SEP = "[ \\-.()\u00a0\u202f]"
#: a phone number: "+" and 8 to 15 digits, or 9 to 15 digits, single separators between them
#: (so "2019 2020" or a time is not one)
PHONE_RE = re.compile(
    rf"(?<![\d+])(?:\+{_D}(?:{_PHONE_SEP}?{_D}){{7,14}}|{_D}(?:{_PHONE_SEP}?{_D}){{8,14}})(?!\d)"
)
PHONE_MASK = "[phone]"
MENTION_MASK = "@[member]"


def _date_fields(date: str) -> tuple[int, int, int]:
    """The three numbers of a header date, in file order."""
    first, second, third = (int(p) for p in re.split(r"[/.\-]", date.translate(_STAMP_TO_ASCII)))
    return first, second, third


def decide_date_order(dates: list[tuple[int, int, int]], option: str | None) -> tuple[str, str]:
    """The day/month order of a chat's dates ("DMY", "MDY" or "YMD") and why.

    Evidence, in order: the ``option``; only four-digit first fields (year first); among the
    other dates, a first field above 12 (day first) or a second field above 12 (month first);
    otherwise the order in which the dates never run backwards when the other does. When
    nothing decides, "DMY" (WhatsApp's order outside the US) with a basis that starts with
    "ambiguous".
    Raises ValueError when the file has first fields above 12 and second fields above 12.
    """
    if option:
        return option, "date_order option"
    if dates and all(first >= 1000 for first, _, _ in dates):
        return "YMD", "four-digit first field"
    dates = [date for date in dates if date[0] < 1000]  # year-first dates say nothing more
    day_first = any(first > 12 for first, _, _ in dates)
    month_first = any(second > 12 for _, second, _ in dates)
    if day_first and month_first:
        raise ValueError(
            "dates have a first field above 12 on some lines and a second field above 12 on "
            "others; set date_order ('DMY' or 'MDY') for this source"
        )
    if day_first:
        return "DMY", "a first field above 12"
    if month_first:
        return "MDY", "a second field above 12"

    def backwards(order: str) -> int:
        keys = [(y, a, b) if order == "MDY" else (y, b, a) for a, b, y in dates]
        return sum(later < earlier for earlier, later in pairwise(keys))

    dmy, mdy = backwards("DMY"), backwards("MDY")
    if dmy != mdy:
        order = "DMY" if dmy < mdy else "MDY"
        return (
            order,
            f"dates run forward only in {order} order ({min(dmy, mdy)} vs {max(dmy, mdy)} steps back)",
        )
    return "DMY", "ambiguous: no field above 12 and both orders run forward; assumed DMY"


def _chat_datetime(date: str, time: str, order: str) -> str:
    """ISO-8601 local time of a header's date and time; ValueError when it is not a moment.
    A date with a four-digit first field is year-first whatever ``order`` says."""
    a, b, c = _date_fields(date)
    order = "YMD" if a >= 1000 else order
    year, month, day = {"DMY": (c, b, a), "MDY": (c, a, b), "YMD": (a, b, c)}[order]
    year += 2000 if year < 100 else 0
    clock = time.translate(_STAMP_TO_ASCII)
    numbers = [int(n) for n in re.findall(r"\d+", clock)]
    hour, minute, second = (numbers + [0])[:3]
    meridiem = re.sub(r"[\s.\d:]", "", clock).lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} on a 12-hour clock")
        hour = hour % 12 + (12 if meridiem in ("pm", "\u0645") else 0)
    return datetime(year, month, day, hour, minute, second).isoformat()


@functools.lru_cache(maxsize=4096)
def _member_key(name: str) -> str:
    """How a sender is recognised: marks, "~" and spacing ignored; a phone number by its digits."""
    plain = _plain(name).lstrip("~ ").strip()
    if PHONE_RE.fullmatch(plain):
        return "".join(re.findall(r"\d", plain.translate(_STAMP_TO_ASCII)))
    return plain.casefold()


@dataclass
class _Message:
    line: int
    date: str
    time: str
    rest: str
    continuation: list[str]
    sender: str | None = None
    body: str = ""
    reason: str | None = None  # why it is not a message, when it is not


def _classify(message: _Message) -> None:
    """Set the message's sender and body, or the reason it is a system or media line."""
    rest = message.rest
    if (phrase := match_phrase(rest, _SYSTEM_KINDS)) is not None:
        message.reason = f"{_KIND_REASONS[phrase.kind]} [{phrase.locale}]"
        return
    sent = WHATSAPP_SENDER_RE.match(rest)
    if sent is None:
        message.reason = "system message (no sender)"
        return
    body = "\n".join([sent["message"], *message.continuation])
    # iOS writes U+200E (U+200F in RTL locales) before system and media lines only; without
    # it, "{name} added {text}" would also match a person's "I added sugar".
    marked = bool(body) and body[0] in BIDI_MARKS
    if (phrase := match_phrase(body, _SYSTEM_KINDS, with_names=marked)) is not None:
        message.reason = f"{_KIND_REASONS[phrase.kind]} [{phrase.locale}] under a sender name"
        return
    attachment, _, caption = body.partition("\n")
    if (phrase := match_phrase(body, _NO_TEXT_KINDS)) is not None:
        message.reason = f"{_KIND_REASONS[phrase.kind]} [{phrase.locale}]"
    elif caption.strip() and match_phrase(attachment, ("media",)) is not None:
        body = caption  # a media line with a caption: the caption is the text
    elif marked:
        # No speaker: the "sender" may be the chat's name.
        message.reason = (
            f"system or media line (starts with U+{ord(body[0]):04X}), not a known WhatsApp string"
        )
        return
    message.sender = sent["sender"]
    message.body = body


class _Pseudonyms:
    """Stable speaker pseudonyms (speaker_1, ... in order of first appearance) and the
    rewriting of @mentions and phone numbers in message bodies."""

    def __init__(self, senders: list[str]):
        self.by_key: dict[str, str] = {}
        self.names: dict[str, str] = {}  # every spelling seen -> pseudonym
        for sender in senders:
            key = _member_key(sender)
            pseudonym = self.by_key.setdefault(key, f"speaker_{len(self.by_key) + 1}")
            self.names[_plain(sender).lstrip("~ ").strip()] = pseudonym
        spellings = "|".join(
            map(re.escape, sorted((n for n in self.names if n), key=len, reverse=True))
        )
        self._known = spellings and re.compile(
            rf"@[{BIDI_MARKS}~ ]*({spellings})[{BIDI_MARKS}]*(?!\w)", re.IGNORECASE
        )
        self.counts = {"mentions_pseudonymised": 0, "mentions_masked": 0, "phone_numbers_masked": 0}

    def of(self, sender: str) -> str:
        return self.by_key[_member_key(sender)]

    def rename_file(self, name: str) -> str:
        """A file name with sender names replaced by their pseudonyms and phone numbers masked."""
        for spelling in sorted(self.names, key=len, reverse=True):
            if spelling:
                whole = rf"(?<!\w){re.escape(spelling)}(?!\w)"
                name = re.sub(whole, self.names[spelling], name, flags=re.IGNORECASE)
        return PHONE_RE.sub(PHONE_MASK, name)

    def _known_mention(self, match: re.Match) -> str:
        self.counts["mentions_pseudonymised"] += 1
        return "@" + self.names[next(n for n in self.names if n.casefold() == match[1].casefold())]

    def _phone(self, match: re.Match) -> str:
        digits = "".join(re.findall(r"\d", match[0].translate(_STAMP_TO_ASCII)))
        if digits in self.by_key:
            self.counts["mentions_pseudonymised"] += 1
            return self.by_key[digits]
        self.counts["phone_numbers_masked"] += 1
        return PHONE_MASK

    def _unknown_mention(self, match: re.Match) -> str:
        self.counts["mentions_masked"] += 1
        return MENTION_MASK

    def rewrite(self, body: str) -> str:
        """Mentions of senders become ``@speaker_N``; other phone numbers become PHONE_MASK
        (``@speaker_N`` when it is a sender's number); other @mentions become MENTION_MASK
        (iOS isolates the whole name in U+2068..U+2069; otherwise the one word after "@")."""
        if self._known:
            body = self._known.sub(self._known_mention, body)
        body = PHONE_RE.sub(self._phone, body)
        return re.sub(
            r"(?<![\w@])@(?:\u2068[^\u2069]*\u2069|(?!speaker_\d)[^\W\d_][\w.\-]*)",
            self._unknown_mention,
            body,
        )


def _read_whatsapp(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    messages: list[_Message] = []
    strays: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        header = WHATSAPP_HEADER_RE.match(line)
        if header is not None:
            messages.append(_Message(number, header["date"], header["time"], header["rest"], []))
        elif CHAT_STAMP_RE.match(line):
            strays.append((number, "starts with a date and time but is not a message header"))
        elif messages:
            messages[-1].continuation.append(line)
        elif line.strip():
            strays.append((number, "text before the first message header"))
    for message in messages:
        _classify(message)

    order, basis = decide_date_order([_date_fields(m.date) for m in messages], options.date_order)
    if basis.startswith("ambiguous"):
        log.warning("%s: day/month order %s", collector.path, basis)
    speakers = _Pseudonyms([m.sender for m in messages if m.sender is not None])
    # The export's file name often holds a name ("WhatsApp Chat with Sara.txt"): urls use
    # the file name with senders replaced by their pseudonyms.
    collector.rename(speakers.rename_file(collector.path.name))
    for number, reason in strays:
        collector.reject(number, reason)
    edited = 0
    for m in messages:
        if m.reason is not None:
            collector.reject(m.line, m.reason)
            continue
        try:
            moment = _chat_datetime(m.date, m.time, order)
        except ValueError as err:
            collector.reject(
                m.line,
                f"date {_plain(m.date)} {_plain(m.time)} is not a moment in {order} order ({err})",
            )
            continue
        text, was_edited = strip_edited_marker(m.body)
        edited += was_edited
        collector.add(
            m.line,
            speakers.rewrite(text),
            {"publish_date": moment, "category": "whatsapp", "story": collector.source},
            speaker=speakers.of(m.sender),
        )
    collector.stats.update(
        date_order=order,
        date_order_basis=basis,
        speakers=len(speakers.by_key),
        edited_markers_removed=edited,
        **speakers.counts,
    )


def _read_sessions(lines: list[str], collector: _Collector, options: ImportOptions) -> None:
    """Therapy-session files (conversations/sessions.py): one row per turn, the session in
    ``story``, the turn's index in ``chapter_index``, the speaker's pseudonym in ``speaker``."""
    from darija_assets.conversations.options import parse_options
    from darija_assets.conversations.sessions import session_rows

    jsonl = collector.path.suffix.lower() in (".jsonl", ".ndjson")
    read = session_rows(lines, jsonl, parse_options(options.conversations), collector.path.stem)
    for line, reason in read.problems:
        collector.reject(line, reason)
    for row in read.rows:
        collector.add(
            row["line"],
            row["text"],
            {
                "publish_date": row["timestamp"],
                "category": "session",
                "story": row["conversation_id"],
                "chapter_index": row["turn_index"],
            },
            speaker=row["speaker"],
        )
    collector.stats.update(read.stats)


READERS = {
    "jsonl": _read_jsonl,
    "csv": _read_csv,
    "txt": _read_txt,
    "whatsapp": _read_whatsapp,
    "sessions": _read_sessions,
}
#: how many non-empty lines detect_format looks at
DETECT_LINES = 50


def detect_format(path: Path, lines: list[str]) -> str:
    """The format of a file from its extension; a .txt with WhatsApp headers is "whatsapp".

    A .txt is a WhatsApp export when one of its first DETECT_LINES non-empty lines is a
    message header (so a leading BOM, mark, notice or stray line does not hide it). Raises
    ValueError for a .txt whose lines start with a date and time like a chat but none parses
    as a header: importing it as plain text would put names and stamps in the corpus.
    """
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":  # a whole JSON document: only session files are read that way
        return "sessions"
    if suffix == ".txt":
        sample = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
        sample = sample[:DETECT_LINES]
        if any(WHATSAPP_HEADER_RE.match(line) for _, line in sample):
            return "whatsapp"
        stamped = next((n for n, line in sample if CHAT_STAMP_RE.match(line)), None)
        if stamped is not None:
            raise ValueError(
                f"{path}: line {stamped} starts with a date and time like a chat export, but no "
                f"line parses as a WhatsApp message header; set fmt 'whatsapp' for this source "
                f"to import it as a chat (lines that do not parse are quarantined) or fmt 'txt' "
                f"to import it as plain text"
            )
        return "txt"
    raise ValueError(
        f"{path}: cannot tell the format from {suffix!r}; pass fmt= one of {sorted(READERS)}"
    )


def import_file(
    path: str | Path, source: str, options: ImportOptions = ImportOptions()
) -> ImportResult:
    """Read one dataset file into raw_corpus rows; see the module docstring."""
    return import_file_records(path, source, options)[0]


def import_file_records(
    path: str | Path, source: str, options: ImportOptions
) -> tuple[ImportResult, pl.DataFrame]:
    """raw_corpus rows, quarantine and stats of one file, and what its records carry
    (text/records.py IMPORTED_SCHEMA; empty for text records)."""
    from darija_assets.text.records import IMPORTED_SCHEMA, TEXT, check_options

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"source {source!r}: no file at {path}")
    # only what was set: an option of another kind left at its default is no mistake
    check_options(
        {
            f.name: getattr(options, f.name)
            for f in dataclasses.fields(options)
            if getattr(options, f.name) != f.default
        }
    )
    crawled_at = options.crawled_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    collector = _Collector(path, source, crawled_at)
    lines, encoding = decode_lines(path.read_bytes(), collector)
    fmt = options.fmt or detect_format(path, lines)
    if fmt not in READERS:
        raise ValueError(f"{path}: unknown format {fmt!r}; known: {sorted(READERS)}")
    if options.records != TEXT and fmt not in ("jsonl", "csv"):
        raise ValueError(f"{path}: records {options.records!r} need a jsonl or csv file, not {fmt}")
    if options.date_order not in (None, "DMY", "MDY"):
        raise ValueError(f"date_order must be 'DMY' or 'MDY', not {options.date_order!r}")
    READERS[fmt](lines, collector, options)
    frame, quarantine = collector.frames()
    imported = pl.DataFrame(collector.imported, schema=IMPORTED_SCHEMA)
    stats = {
        "path": str(collector.shown_path),
        "format": fmt,
        "encoding": encoding,
        "lines": len(lines),
        "rows_out": frame.height,
        "rows_quarantined": quarantine.height,
        **collector.stats,
    }
    if options.records != TEXT:
        stats.update(
            records=options.records,
            records_with_label=imported["label"].is_not_null().sum(),
        )
    return ImportResult(frame, quarantine.sort("line"), stats), imported


def _options(source: Source, crawled_at: str | None) -> ImportOptions:
    if source.kind != "file" or not source.path:
        raise ValueError(f"source {source.name!r} is not a file source")
    return ImportOptions(crawled_at=crawled_at, **source.extra)


def import_source(source: Source, crawled_at: str | None = None) -> ImportResult:
    """Import a registry source of kind "file" with its importer options.

    ``source.extra`` holds ``ImportOptions`` fields (fmt, text_field, date_order, ...), as
    ``sources.load_registry`` checked them from $DARIJA_SOURCES. Raises ValueError for a
    source that is not a file source, TypeError for an option ImportOptions does not have.
    """
    return import_file(source.path, source.name, _options(source, crawled_at))


def import_records(
    source: Source, crawled_at: str | None = None
) -> tuple[ImportResult, pl.DataFrame]:
    """``import_source`` and what the source's records carry (labels, instruction
    records, parallel text: text/records.py IMPORTED_SCHEMA, one row per imported record)."""
    return import_file_records(source.path, source.name, _options(source, crawled_at))
