"""Corpus quality measures the asset checks gate on: script share, mojibake, duplicates.

Each function takes a polars string Series (or any iterable of strings) and returns a
ratio in [0, 1] over the whole source (script share, duplicates) or one per text
(``mojibake_share``, since one mis-decoded page must fail however large its site), so a
check compares it with a threshold and reports it. Nulls are ignored (score 0 per text).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

#: Share of a text's non-space characters that may be mojibake-suspect before the text
#: counts as mis-decoded. Genuine Darija, French or Arabizi scores 0 (a stray replacement
#: character in a long page stays under it); every wrong-codec reading of Darija tested in
#: darija_assets_tests/text/test_quality.py scores above 0.5.
MOJIBAKE_MAX_SHARE = 0.01

#: First bytes of UTF-8 Arabic (D8..DB) read through a single-byte code page.
_LEAD_BYTES = bytes(range(0xD8, 0xDC))
#: First bytes of UTF-8 Latin-1 letters and symbols (C2, C3: French "été" read as latin-1 is
#: "Ã©tÃ©", an NBSP is "Â\xa0") and of UTF-8 punctuation (E2: "’" is "â€™").
_LATIN_LEAD_BYTES = b"\xc2\xc3\xe2"
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def _decoded(data: bytes, codec: str) -> str:
    return data.decode(codec, errors="ignore")


def _char_class(chars: Iterable[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):04X}}}" for c in sorted(set(chars))) + "]"


def _mojibake_pattern() -> str:
    """A regex (Rust syntax, for polars) whose matches are the mojibake-suspect characters.

    - U+FFFD, and C1 controls (U+0080-U+009F): what a decoder leaves for bytes it cannot map,
      or what latin-1 makes of bytes 80-9F; genuine text holds neither.
    - A UTF-8 lead byte's character followed by a continuation byte's character, read
      through latin-1/cp1252 ("Ø±Ø§Ù†ÙŠ" for "راني", "Ã©" for "é") or through cp1256
      ("ط±ط§ظ†ظٹ"). Continuations that real Arabic can put after a letter (Arabic letters,
      Arabic punctuation, quotes, dashes, ellipsis, spaces, invisible joiners) are left out
      of the cp1256 set, so genuine text such as "شرط، " or "سمع»" never matches.
    - Three Latin-1 letters (U+00C0-U+00FF) in a row, or two when one is a capital
      (U+00C0-U+00DF): a single-byte Arabic page (windows-1256, ISO-8859-6) read as
      latin-1/cp1252 turns every Arabic letter into one of them ("ÑÇäí" for "راني", "ãÚ"
      for "مع"), while French, Portuguese or Arabizi put an accented letter between plain
      ones ("détroit") or at most two small ones together ("informação").
    """
    latin_leads = _decoded(_LEAD_BYTES + _LATIN_LEAD_BYTES, "latin-1")
    latin_continuations = {
        ch for codec in ("latin-1", "cp1252") for ch in _decoded(_CONTINUATION_BYTES, codec)
    }
    plausible_after_letter = set("«»“”‘’–—…\u00a0\u00ad\u200c\u200d\u200e\u200f")
    arabic_leads = _decoded(_LEAD_BYTES, "cp1256")
    arabic_continuations = {
        ch
        for ch in _decoded(_CONTINUATION_BYTES, "cp1256")
        if not ("\u0600" <= ch <= "\u06ff") and ch not in plausible_after_letter
    }
    return "|".join(
        [
            r"[\x{FFFD}\x{80}-\x{9F}]",
            _char_class(latin_leads) + _char_class(latin_continuations),
            _char_class(arabic_leads) + _char_class(arabic_continuations),
            r"[\x{C0}-\x{FF}]{3,}|[\x{C0}-\x{DF}][\x{C0}-\x{FF}]|[\x{E0}-\x{FF}][\x{C0}-\x{DF}]",
        ]
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


def mojibake_share(texts: pl.Series | Iterable[str | None]) -> pl.Series:
    """Per text, the share of its non-space characters that are mojibake-suspect (see
    ``MOJIBAKE_RE``): a Float64 Series aligned with ``texts``; 0.0 for null or blank texts.

    A page read with the wrong charset scores high everywhere (most of its non-ASCII
    characters are suspect), so the measure is per page: a large site with one bad page
    still shows that page.
    """
    series = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    text = pl.col("text")
    # U+0085 and NBSP count as white space to regex engines, but as suspects here.
    visible = text.str.replace_all(r"[\s--[\x{85}\x{A0}]]+", "").str.len_chars()
    # Matched on the text as it is: words joined together would make runs that are not there.
    suspect = text.str.len_chars() - text.str.replace_all(MOJIBAKE_RE, "").str.len_chars()
    return (
        pl.DataFrame({"text": series.cast(pl.String)})
        .select(
            pl.when(visible > 0)
            .then(suspect / visible)
            .otherwise(0.0)
            .fill_null(0.0)
            .alias("share")
        )
        .to_series()
    )


def mojibake_mask(
    texts: pl.Series | Iterable[str | None], max_share: float = MOJIBAKE_MAX_SHARE
) -> pl.Series:
    """True for each text whose ``mojibake_share`` exceeds ``max_share`` (aligned; null is False)."""
    return mojibake_share(texts) > max_share


def mojibake_rows(
    frame: pl.DataFrame, text: str, max_share: float = MOJIBAKE_MAX_SHARE
) -> pl.DataFrame:
    """The rows of ``frame`` whose ``text`` column is mojibake, with their
    ``mojibake_share``, worst first (an empty frame when none is)."""
    return (
        frame.with_columns(mojibake_share=mojibake_share(frame[text]))
        .filter(pl.col("mojibake_share") > max_share)
        .sort("mojibake_share", descending=True, maintain_order=True)
    )


def duplicate_ratio(texts: pl.Series | Iterable[str]) -> float:
    """Share of texts that repeat an earlier one exactly; 0.0 for no texts."""
    series = _series(texts)
    return (1.0 - series.n_unique() / series.len()) if series.len() else 0.0
