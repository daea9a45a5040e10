"""Small checks shared by the generation tasks (pairs, translations).

Which script a text is written in, and how to pull the per-item answer objects out
of a model's JSON (with or without the code fences models like to add).
"""

from __future__ import annotations

import json
import re
from typing import Any

from darija_assets.llm.base import MalformedAnswer

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


def answer_objects(text: str, list_key: str) -> list[dict[str, Any]]:
    """The per-item objects of a batch answer.

    Accepts ``{list_key: [...]}`` (what the schema asks for), a bare array, and
    either one wrapped in a Markdown code fence. Raises ``MalformedAnswer`` with
    the reason otherwise, which the runner turns into a retry, then a quarantine.
    """
    body = _CODE_FENCE.sub("", text.strip())
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"answer is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if isinstance(data, dict):
        data = data.get(list_key)
    if not isinstance(data, list):
        raise MalformedAnswer(f"answer JSON has no {list_key!r} array")
    return [obj for obj in data if isinstance(obj, dict)]
