"""The source registry: every place Darija text comes from, one `source` partition each.

Built in: ``sample`` (the bundled mirror site, crawled over loopback, the embedded
default) and ``9esa`` (the live 9esa.com site). More sources come from a JSON file
named by $DARIJA_SOURCES: a list of objects, one per source, so a team adds a site
of the same shape, or a dataset file, without touching code::

    [
      {"name": "wa_family", "kind": "file", "path": "exports/chat.txt", "date_order": "MDY"},
      {"name": "posts", "kind": "file", "path": "posts.jsonl", "text_field": "body"},
      {"name": "mirror", "kind": "web", "start_url": "https://example.ma/", "profile": "qesa"}
    ]

Fields (``KNOWN_FIELDS`` per kind): ``name`` (the partition key, see ``name_problem``),
``kind`` (``file`` or ``web``), ``description``; for ``file``: ``path`` (relative paths are
read from the folder of the sources file), ``format`` (or ``fmt``: jsonl, csv, txt,
whatsapp, sessions; default from the file), ``conversations`` (how a chat export or a
session file becomes conversations[source] examples, see conversations/options.py), and
every other option of the importer
(``text.importers.ImportOptions``: ``text_field``, ``date_order``, ``records`` and the options
of its kind, see ``text.records``, ...), at the top level
(an ``extra`` object holding them, the older spelling, is still read); for ``web``:
``start_url``, ``profile`` (a site profile, default ``qesa``), ``recrawl``.

A bad entry never takes the code location down: it is rejected with the reason, the
entry and the file (``Rejection``), logged when the sources load, listed by
``darija-assets sources``, and raised by ``SourceRegistry.get`` when its partition is
materialized; the built-in sources and the good entries load as usual. A sources file
that is missing or is not JSON is one error naming the file, and the built-ins still load.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darija_assets.storage import DATA_DIR_ENV, Layout

SOURCES_ENV = "DARIJA_SOURCES"
#: kinds a sources file may declare (``sample``, the bundled site, is built in only)
DECLARED_KINDS = ("file", "web")
DEFAULT_PROFILE = "qesa"
#: Dagster's StaticPartitionsDefinition refuses keys containing these (dagster 1.13,
#: _core/definitions/partitions/utils/base.py): "..." is the UI's and CLI's range syntax
#: ("a...b"), the control characters do not display.
DAGSTER_INVALID_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
#: a MultiPartitionsDefinition refuses these in the keys of a static dimension
#: (_core/definitions/partitions/utils/multi.py), so a name with them could never be
#: crossed with another dimension
MULTI_PARTITION_CHARACTERS = frozenset("|,[]")
#: the punctuation a name may hold besides letters, digits, combining marks and spaces
NAME_PUNCTUATION = frozenset("-_.")
MAX_NAME_LENGTH = 64

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A source that cannot be used: unknown, rejected from the sources file, or not a file."""


@dataclass(frozen=True)
class Source:
    name: str
    #: "sample" (bundled site served on 127.0.0.1), "web" (a live site), "file" (a dataset file)
    kind: str
    #: site profile for crawled kinds (see crawler/profiles/)
    profile: str | None = None
    start_url: str | None = None
    #: for kind "file": a .jsonl, .csv, .txt or a WhatsApp .txt export (absolute once loaded)
    path: str | None = None
    #: re-crawled by the daily schedule
    recrawl: bool = False
    description: str = ""
    #: for kind "file": the importer's options (``ImportOptions`` fields: fmt, text_field,
    #: date_order, ...), checked by ``load_registry``
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: where it was declared: "built in", or "<sources file>, entry <n>"
    origin: str = "built in"

    @property
    def crawled(self) -> bool:
        return self.kind in ("sample", "web")


BUILTIN_SOURCES: tuple[Source, ...] = (
    Source(
        name="sample",
        kind="sample",
        profile="qesa",
        description="Bundled Darija mirror site in the 9esa.com shape, served on 127.0.0.1.",
    ),
    Source(
        name="9esa",
        kind="web",
        profile="qesa",
        start_url="https://www.9esa.com/search?view=list",
        recrawl=True,
        description="9esa.com, Moroccan Darija stories (live site).",
    ),
)


@dataclass(frozen=True)
class Rejection:
    """One entry of the sources file that was not loaded, and why."""

    file: str
    #: 1-based position of the entry in the file's list
    entry: int
    #: the entry's name as written (None when it has no string name)
    name: str | None
    reason: str

    @property
    def message(self) -> str:
        named = f" ({self.name!r})" if self.name is not None else ""
        return f"{SOURCES_ENV}={self.file}: entry {self.entry}{named} rejected: {self.reason}"


@dataclass(frozen=True)
class SourceRegistry:
    """The loaded sources, the rejected entries and the state of $DARIJA_SOURCES."""

    sources: dict[str, Source]
    rejected: tuple[Rejection, ...] = ()
    #: the value of $DARIJA_SOURCES (None when unset)
    file: str | None = None
    #: why the sources file could not be read at all (missing, not JSON, not a list)
    error: str | None = None
    #: sources whose raw_corpus table is in the data directory but that are not declared:
    #: most often $DARIJA_SOURCES forgotten in this shell or service
    undeclared: tuple[str, ...] = ()
    data_dir: str | None = None

    @property
    def problems(self) -> list[str]:
        """Every message a user should see: the file error, each rejection, then each
        materialized source that is not declared."""
        return (
            ([self.error] if self.error else [])
            + [r.message for r in self.rejected]
            + [self._undeclared_message(name) for name in self.undeclared]
        )

    def _where(self) -> str:
        if self.file is None:
            return f"${SOURCES_ENV} is not set in this process"
        if self.error:
            return self.error
        return f"${SOURCES_ENV}={self.file} declares no source of that name"

    def _undeclared_message(self, name: str) -> str:
        return (
            f"source {name!r} has a raw_corpus table in {self.data_dir} but is not declared: "
            f"{self._where()}. File sources are declared in the JSON file named by "
            f"${SOURCES_ENV}; until it is declared again, {name!r} cannot be materialized and "
            "its labels are left out of therapy_pairs (delete its tables if it is gone for good)"
        )

    def partition_keys(self) -> list[str]:
        """The source partition keys: the loaded sources, then every rejected name that is a
        valid key and not a built-in's, so that materializing it says why it was rejected."""
        keys = list(self.sources)
        for rejection in self.rejected:
            name = rejection.name
            if name is not None and name not in keys and name_problem(name) is None:
                keys.append(name)
        return keys

    def get(self, name: str) -> Source:
        """The source named ``name``; raises ``SourceError`` saying why there is none."""
        if name in self.sources:
            return self.sources[name]
        rejected = [r.message for r in self.rejected if r.name == name]
        if rejected:
            raise SourceError("; ".join(rejected))
        if name in self.undeclared:
            raise SourceError(self._undeclared_message(name))
        raise SourceError(
            f"unknown source {name!r}: file and extra web sources are declared in the JSON file "
            f"named by ${SOURCES_ENV}, and {self._where()}; known sources: {sorted(self.sources)}"
        )


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a source name (a partition key, a file name under the data
    directory, part of a UI URL), or None when it can.

    Allowed: letters and digits of any script (Arabic included), combining marks, spaces
    inside the name, '-', '_' and '.', in Unicode NFC, at most ``MAX_NAME_LENGTH`` characters.
    """
    if not isinstance(name, str) or not name.strip():
        return "'name' must be a non-empty string"
    for substring in DAGSTER_INVALID_SUBSTRINGS:
        if substring in name:
            shown = "'...'" if substring == "..." else f"control character {substring!r}"
            return (
                f"{shown} is not allowed in a Dagster partition key ('...' is the range syntax "
                "'a...b' of the UI and the CLI; StaticPartitionsDefinition refuses it)"
            )
    if "/" in name or "\\" in name:
        return (
            "'/' and '\\' split the partition's files under the data directory into folders "
            "(or out of it) and break the partition's URL in the Dagster UI "
            "(dagster issue #21333); use '-' or '_'"
        )
    if found := sorted(MULTI_PARTITION_CHARACTERS & set(name)):
        return f"{found} are reserved by Dagster for multi-partition keys"
    if name != name.strip():
        return "leading or trailing whitespace (the same name typed without it would not match)"
    if name.startswith("."):
        return (
            "a name starting with '.' is a hidden (or special) file name under the data directory"
        )
    normal = unicodedata.normalize("NFC", name)
    if normal != name:
        return (
            f"not in Unicode NFC form, so the same-looking name typed on another keyboard "
            f"would be another partition; write it as {normal!r}"
        )
    for char in name:
        if not (
            char.isalnum()
            or unicodedata.category(char).startswith("M")
            or char == " "
            or char in NAME_PUNCTUATION
        ):
            what = unicodedata.name(char, "unnamed")
            return (
                f"character U+{ord(char):04X} ({what}) is not allowed: use letters and digits "
                "of any script, spaces, '-', '_' or '.'"
            )
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters"
    return None


def _import_option_fields() -> dict[str, Any]:
    """The importer options a file source may set, with their defaults."""
    from darija_assets.text.importers import ImportOptions

    def default(f: dataclasses.Field) -> Any:
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        return None

    return {
        f.name: default(f)
        for f in dataclasses.fields(ImportOptions)
        if f.name != "crawled_at"  # set by the import itself
    }


def known_fields(kind: str) -> tuple[str, ...]:
    """The fields an entry of ``kind`` may have, in the order the README lists them."""
    common = ("name", "kind", "description")
    if kind == "web":
        return (*common, "start_url", "profile", "recrawl")
    options = [f for f in _import_option_fields() if f != "fmt"]
    return (*common, "path", "format", "fmt", *options, "extra")


def _file_options(entry: dict[str, Any]) -> dict[str, Any]:
    """The importer options of a file entry (top-level fields and the older ``extra``)."""
    from darija_assets.conversations.options import parse_options as parse_conversation_options
    from darija_assets.text.importers import READERS
    from darija_assets.text.records import check_options as check_record_options

    legacy = entry.get("extra", {})
    if not isinstance(legacy, dict):
        raise SourceError("'extra' must be an object of importer options")
    defaults = _import_option_fields()
    unknown = sorted(set(legacy) - set(defaults))
    if unknown:
        raise SourceError(f"'extra' holds unknown options {unknown}; known: {sorted(defaults)}")
    top = {key: entry[key] for key in defaults if key in entry}
    if "format" in entry:
        if "fmt" in entry:
            raise SourceError("give 'format' or 'fmt' (the same option), not both")
        top["fmt"] = entry["format"]
    if clash := sorted(set(top) & set(legacy)):
        raise SourceError(f"{clash} given both at the top level and in 'extra'")
    options = {**legacy, **top}
    for key, value in options.items():
        default = defaults[key]
        if default is not None and not isinstance(value, type(default)):
            raise SourceError(
                f"{key!r} must be a {type(default).__name__}, not {type(value).__name__}"
            )
    if options.get("fmt") is not None and options["fmt"] not in READERS:
        raise SourceError(f"unknown format {options['fmt']!r}; known: {sorted(READERS)}")
    if options.get("date_order") not in (None, "DMY", "MDY"):
        raise SourceError(
            f"date_order must be 'DMY' or 'MDY' (or left out), not {options['date_order']!r}"
        )
    if "text_field" in options and not options["text_field"]:
        raise SourceError("'text_field' must name a field")
    try:  # what the records are (text, labels, instructions, parallel) and their options
        check_record_options(options)
        # how a chat export or session file becomes conversations (conversations/options.py)
        parse_conversation_options(options.get("conversations"))
    except ValueError as err:
        raise SourceError(str(err)) from None
    return options


def _source_from_entry(entry: dict[str, Any], base: Path, origin: str) -> Source:
    """A Source from one entry of the sources file; raises SourceError saying what is wrong."""
    kind = entry.get("kind")
    if kind not in DECLARED_KINDS:
        hint = " ('sample' is the built-in bundled site)" if kind == "sample" else ""
        raise SourceError(f"'kind' must be one of {list(DECLARED_KINDS)}, not {kind!r}{hint}")
    known = known_fields(kind)
    unknown = sorted(set(entry) - set(known))
    if unknown:
        guesses = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
        hints = "".join(f" ({u!r}: did you mean {g[0]!r}?)" for u, g in guesses.items() if g)
        raise SourceError(
            f"unknown fields {unknown} for kind {kind!r}{hints}; known: {list(known)}"
        )
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise SourceError("'description' must be a string")
    if kind == "web":
        return _web_source(entry, description, origin)
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise SourceError("kind 'file' needs a 'path' (a string; relative to the sources file)")
    return Source(
        name=entry["name"],
        kind="file",
        path=str((base / Path(path).expanduser()).resolve()),
        description=description,
        extra=_file_options(entry),
        origin=origin,
    )


def _web_source(entry: dict[str, Any], description: str, origin: str) -> Source:
    from darija_assets.crawler.profiles import ProfileError, load_profile

    start_url = entry.get("start_url")
    if not isinstance(start_url, str) or not start_url.startswith(("http://", "https://")):
        raise SourceError("kind 'web' needs a 'start_url' (an http:// or https:// URL)")
    profile = entry.get("profile", DEFAULT_PROFILE)
    try:
        load_profile(profile)
    except (ProfileError, TypeError, ValueError) as err:
        raise SourceError(f"profile {profile!r}: {err}") from None
    recrawl = entry.get("recrawl", False)
    if not isinstance(recrawl, bool):
        raise SourceError("'recrawl' must be true or false")
    return Source(
        name=entry["name"],
        kind="web",
        profile=profile,
        start_url=start_url,
        recrawl=recrawl,
        description=description,
        origin=origin,
    )


def _read_entries(file: str) -> list:
    """The list of entries of the sources file; raises SourceError naming the file."""
    path = Path(file).expanduser()
    try:
        entries = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as err:
        raise SourceError(f"{SOURCES_ENV}={file}: cannot read it ({err.strerror})") from None
    except UnicodeDecodeError:
        raise SourceError(f"{SOURCES_ENV}={file}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise SourceError(
            f"{SOURCES_ENV}={file}: not valid JSON ({err.msg} at line {err.lineno}, "
            f"column {err.colno})"
        ) from None
    if not isinstance(entries, list):
        raise SourceError(
            f"{SOURCES_ENV}={file}: must hold a JSON list of source objects, "
            f"not a JSON {type(entries).__name__}"
        )
    return entries


def load_registry(environ: Mapping[str, str] | None = None) -> SourceRegistry:
    """Built-in sources plus those declared in $DARIJA_SOURCES, with every rejection, and
    the sources that have data under $DARIJA_DATA_DIR but are not declared.

    Never raises for a bad sources file: its problems are in ``problems`` (and logged as
    warnings), so the code location loads with whatever is usable.
    """
    environ = os.environ if environ is None else environ
    registry = _declared(environ)
    data = Layout(environ.get(DATA_DIR_ENV) or None)
    tables = data.table("raw_corpus", "_").parent
    known = set(registry.partition_keys())
    undeclared = tuple(
        sorted(p.stem for p in tables.glob("*.parquet") if p.stem not in known)
        if tables.is_dir()
        else ()
    )
    registry = dataclasses.replace(registry, undeclared=undeclared, data_dir=str(data.root))
    for message in registry.problems:
        # The registry is loaded by the partitions at import and again by each command:
        # say each problem once per process.
        if message not in _LOGGED_PROBLEMS:
            _LOGGED_PROBLEMS.add(message)
            log.warning(message)
    return registry


_LOGGED_PROBLEMS: set[str] = set()


def _declared(environ: Mapping[str, str]) -> SourceRegistry:
    """The registry of the built-ins and the entries of $DARIJA_SOURCES."""
    sources = {s.name: s for s in BUILTIN_SOURCES}
    file = environ.get(SOURCES_ENV) or None
    if file is None:
        return SourceRegistry(sources)
    try:
        entries = _read_entries(file)
    except SourceError as err:
        return SourceRegistry(sources, file=file, error=f"{err} (only the built-in sources load)")

    base = Path(file).expanduser().resolve().parent
    declared: dict[str, list[int]] = {}
    candidates: list[tuple[int, str | None, Source | str]] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            kind = type(entry).__name__
            candidates.append((number, None, f"a JSON {kind}, not an object"))
            continue
        name = entry.get("name")
        name = name if isinstance(name, str) else None
        problem = name_problem(entry.get("name"))
        if problem is None and name in sources:
            problem = "that is the name of a built-in source"
        if problem is None:
            declared.setdefault(name, []).append(number)
            try:
                candidates.append(
                    (number, name, _source_from_entry(entry, base, f"{file}, entry {number}"))
                )
            except SourceError as err:
                candidates.append((number, name, str(err)))
        else:
            candidates.append((number, name, problem))

    rejected = []
    for number, name, outcome in candidates:
        if isinstance(outcome, Source) and len(declared[outcome.name]) == 1:
            sources[outcome.name] = outcome
            continue
        if isinstance(outcome, Source):
            outcome = f"the name is declared more than once (entries {declared[outcome.name]})"
        rejected.append(Rejection(file=file, entry=number, name=name, reason=outcome))
    return SourceRegistry(sources, tuple(rejected), file=file)


def load_sources() -> dict[str, Source]:
    """Built-in sources plus the usable ones declared in $DARIJA_SOURCES, by name."""
    return load_registry().sources


def get_source(name: str) -> Source:
    """The source named ``name``; raises ``SourceError`` saying why there is none (rejected
    from the sources file, the file unreadable, or $DARIJA_SOURCES not set)."""
    return load_registry().get(name)
