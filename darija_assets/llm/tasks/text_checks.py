"""Small checks shared by the LLM tasks (labels, pairs, translations).

Which script a text is written in, how to pull the per-item answer objects out of a
model's answer (JSON inside prose or code fences, trailing commas, a bare array), and
how to match them to the items that were asked about.

Why not a JSON-repair library: ``json-repair`` (checked at 0.64, Dec 2026) is the
well-kept choice for broken JSON, but it also *completes* truncated JSON, even with
``strict=True``: a therapist reply cut off by the token limit would come back as a
shorter reply that passes every check. A cut-off answer must stay malformed (it is
retried, then quarantined with the raw text). What models actually do (prose around
the JSON, fences with or without newlines, trailing commas, a bare array) needs only
the standard library's ``raw_decode`` plus one narrow repair, written here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from darija_assets.llm.base import MalformedAnswer, WorkItem

# Arabic, Arabic Supplement, Arabic Extended-A, and the presentation forms.
_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
# Basic Latin letters plus Latin-1 and Latin Extended letters (accents: café, naïve).
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F]")
#: bump when ``answer_objects`` accepts or refuses answers differently: it is part of every
#: cache key, so verdicts judged by another parser are never reused
PARSER_VERSION = "lenient-json-2"
_DECODER = json.JSONDecoder()
_VALUE_START = re.compile(r"[\[{]")


def script_shares(text: str) -> tuple[float, float]:
    """(Arabic share, Latin share) among the letters of ``text``; (0, 0) without letters.

    Digits, punctuation and emoji are not letters and count for neither script.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0, 0.0
    arabic = sum(1 for ch in letters if _ARABIC_LETTER.match(ch))
    latin = sum(1 for ch in letters if _LATIN_LETTER.match(ch))
    return arabic / len(letters), latin / len(letters)


def answer_objects(
    text: str, list_key: str, *, no_list_reason: str | None = None
) -> list[dict[str, Any]]:
    """The per-item objects of a batch answer (entries that are not objects are dropped).

    Takes the first JSON value in ``text`` that has the asked shape: an object with a
    ``list_key`` array (what the schema asks for) or a bare array of objects. It may sit
    inside prose or a Markdown fence (with or without newlines around it), and may carry
    trailing commas before ``]`` or ``}``. Anything else raises ``MalformedAnswer`` with
    the reason, which the runner turns into a retry, then a quarantine with the raw
    answer; ``no_list_reason`` replaces the reason for JSON without the array. Truncated
    JSON is never completed.

    >>> answer_objects('Sure! ```json\\n{"labels": [{"id": "1"},]}\\n``` Bye', "labels")
    [{'id': '1'}]
    """
    first_error: json.JSONDecodeError | None = None
    found_json = False
    for start in _VALUE_START.finditer(text):
        try:
            value = _decode_at(text, start.start())
        except json.JSONDecodeError as exc:
            # the error at the outermost start explains a truncated answer best
            first_error = first_error or (None if found_json else exc)
            continue
        found_json = True
        entries = value.get(list_key) if isinstance(value, dict) else value
        if isinstance(entries, list) and (
            isinstance(value, dict) or any(isinstance(e, dict) for e in entries)
        ):
            return [obj for obj in entries if isinstance(obj, dict)]
    if first_error is not None:
        raise MalformedAnswer(
            f"answer is not valid JSON: {first_error.msg} at char {first_error.pos}"
        )
    if found_json:
        raise MalformedAnswer(no_list_reason or f"answer JSON has no {list_key!r} array")
    raise MalformedAnswer("answer is not valid JSON: it holds no JSON object or array")


def _decode_at(text: str, start: int) -> Any:
    """The JSON value that begins at ``start``; failing that, the same with trailing
    commas removed. Raises the strict parser's error when both fail."""
    try:
        return _DECODER.raw_decode(text, start)[0]
    except json.JSONDecodeError as strict_error:
        repaired = _without_trailing_commas(text[start:])
        if repaired == text[start:]:
            raise
        try:
            return _DECODER.raw_decode(repaired)[0]
        except json.JSONDecodeError:
            raise strict_error from None


def _without_trailing_commas(text: str) -> str:
    """``text`` with every comma that directly precedes ``]`` or ``}`` (whitespace
    between allowed) dropped, leaving string contents untouched."""
    out: list[str] = []
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            out.append(ch)
            continue
        if ch == '"':
            in_string = True
        elif ch == ",":
            rest = text[i + 1 :].lstrip()
            if rest[:1] in ("]", "}"):
                continue
        out.append(ch)
    return "".join(out)


def answers_per_item(
    completion_text: str,
    list_key: str,
    by_id: Mapping[str, WorkItem],
    *,
    no_list_reason: str | None = None,
) -> list[tuple[WorkItem, list[dict[str, Any]]]]:
    """Every answer object of a batch answer, grouped under the item its ``id`` names.

    ``by_id`` maps the ids the prompt gave to the items. An answer's id is read as text,
    surrounding whitespace ignored. Items come in the order the answer first names them.
    Answers with an unknown id are ignored; an item no answer names is left out, and the
    runner asks for it again. Malformed answers raise as in ``answer_objects``.
    """
    grouped: dict[str, tuple[WorkItem, list[dict[str, Any]]]] = {}
    for obj in answer_objects(completion_text, list_key, no_list_reason=no_list_reason):
        answer_id = str(obj.get("id", "")).strip()
        if answer_id in by_id:
            grouped.setdefault(answer_id, (by_id[answer_id], []))[1].append(obj)
    return list(grouped.values())


def first_answer_per_item(
    completion_text: str, list_key: str, items: list[WorkItem]
) -> list[tuple[WorkItem, dict[str, Any]]]:
    """(item, its answer object) for each item the answer names, the ids being item keys.

    Unknown and repeated ids are ignored (the first answer for an id counts); a missing
    id is left out, and the runner retries it.
    """
    by_key = {item.key: item for item in items}
    return [
        (item, answers[0]) for item, answers in answers_per_item(completion_text, list_key, by_key)
    ]
