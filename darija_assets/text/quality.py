"""Corpus quality measures the asset checks gate on: script share, mojibake, duplicates.

Each function takes a polars string Series (or any iterable of strings), ignores nulls,
and returns a ratio in [0, 1], so a check compares it with a threshold and reports it.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

#: First bytes of UTF-8 Arabic (D8..DB) read through a single-byte code page.
_LEAD_BYTES = bytes(range(0xD8, 0xDC))
#: First bytes of UTF-8 Latin-1 letters (C2, C3): French "été" read as latin-1 is "Ã©tÃ©".
_LATIN_LEAD_BYTES = b"\xc2\xc3"
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def _decoded(data: bytes, codec: str) -> str:
    return data.decode(codec, errors="ignore")


def _mojibake_pattern() -> str:
    """A regex for UTF-8 Arabic decoded as latin-1/cp1252 ("Ø§Ù„") or as cp1256 ("ط§ظ„"),
    for UTF-8 French/Arabizi accents decoded as latin-1/cp1252 ("Ã©"), and for U+FFFD.

    A mojibake pair is a lead byte's character followed by a continuation byte's character.
    Continuations that real text can put after a letter (Arabic letters, Arabic punctuation,
    quotes, dashes, ellipsis, spaces, invisible joiners) are left out of the cp1256 set, so
    genuine Arabic such as "شرط، " or "سمع»" never matches; the remaining symbols
    (§ „ † ‡ ¨ ± ...) are what alef, lam, noon, heh, beh, reh... turn into.
    """
    latin_leads = _decoded(_LEAD_BYTES + _LATIN_LEAD_BYTES, "latin-1")
    latin_continuations = {
        ch
        for codec in ("latin-1", "cp1252")
        for ch in _decoded(_CONTINUATION_BYTES, codec)
        if ch not in "\u00a0\u00ad"
    }
    plausible_after_letter = set("«»“”‘’–—…\u00a0\u00ad\u200c\u200d\u200e\u200f")
    arabic_leads = _decoded(_LEAD_BYTES, "cp1256")
    arabic_continuations = {
        ch
        for ch in _decoded(_CONTINUATION_BYTES, "cp1256")
        if not ("\u0600" <= ch <= "\u06ff") and ch not in plausible_after_letter
    }

    def char_class(chars: Iterable[str]) -> str:
        return "".join(f"\\x{{{ord(c):04X}}}" for c in sorted(chars))

    return (
        f"\ufffd"
        f"|[{char_class(latin_leads)}][{char_class(latin_continuations)}]"
        f"|[{char_class(arabic_leads)}][{char_class(arabic_continuations)}]"
    )


MOJIBAKE_RE = _mojibake_pattern()


def _series(texts: pl.Series | Iterable[str]) -> pl.Series:
    series = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    return series.cast(pl.String).drop_nulls()


def arabic_script_ratio(texts: pl.Series | Iterable[str]) -> float:
    """Share of letters that are Arabic script (digits, punctuation and spaces not counted).

    0.0 when there are no letters at all, so an empty corpus fails a threshold check.
    """
    series = _series(texts)
    if not series.str.contains(r"[\p{L}--\p{Arabic}]").any():
        # Every letter is Arabic: no need to count them (the usual case for clean text,
        # and counting is what costs: one regex match per word).
        return 1.0 if series.str.contains(r"\p{L}").any() else 0.0
    # Delete runs of non-letters, then runs of other scripts' letters, and measure.
    letters = series.str.replace_all(r"\P{L}+", "")
    arabic = letters.str.replace_all(r"[\p{L}--\p{Arabic}]+", "")
    letters_n = letters.str.len_chars().sum()
    return arabic.str.len_chars().sum() / letters_n if letters_n else 0.0


def mojibake_mask(texts: pl.Series | Iterable[str]) -> pl.Series:
    """True for each (non-null) text showing mojibake or U+FFFD replacement characters."""
    return _series(texts).str.contains(MOJIBAKE_RE)


def mojibake_ratio(texts: pl.Series | Iterable[str]) -> float:
    """Share of texts with mojibake (see ``mojibake_mask``); 0.0 for no texts."""
    mask = mojibake_mask(texts)
    return float(mask.sum() / mask.len()) if mask.len() else 0.0


def duplicate_ratio(texts: pl.Series | Iterable[str]) -> float:
    """Share of texts that repeat an earlier one exactly; 0.0 for no texts."""
    series = _series(texts)
    return (1.0 - series.n_unique() / series.len()) if series.len() else 0.0
