"""Small checks shared by the LLM tasks (labels, pairs, translations).

Which script a text is written in, how to pull the per-item answer objects out of a
model's JSON (with or without the code fences models like to add), and how to match
them to the items that were asked about.
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
_CODE_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?|\n?\s*```\s*$")


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

    Accepts ``{list_key: [...]}`` (what the schema asks for), a bare array, and
    either one wrapped in a Markdown code fence. Raises ``MalformedAnswer`` with
    the reason otherwise, which the runner turns into a retry, then a quarantine;
    ``no_list_reason`` replaces the default reason for JSON without the array.
    """
    body = _CODE_FENCE.sub("", text.strip())
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"answer is not valid JSON: {exc.msg} at char {exc.pos}") from None
    if isinstance(data, dict):
        data = data.get(list_key)
    if not isinstance(data, list):
        raise MalformedAnswer(no_list_reason or f"answer JSON has no {list_key!r} array")
    return [obj for obj in data if isinstance(obj, dict)]


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
