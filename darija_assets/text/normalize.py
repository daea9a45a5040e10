"""Normalise raw Darija text into clean Arabic-script text with vectorised polars passes.

The letter-level rules are PyArabic's (``pyarabic.araby``), re-expressed as polars string
expressions so a whole partition is cleaned in Rust instead of a Python loop per row:

* ``strip_tashkeel``   the eight marks U+064B..U+0652 (harakat, tanwin, shadda, sukun)
* ``strip_tatweel``    U+0640
* ``normalize_ligature``  the four lam-alef presentation ligatures become LAM + ALEF
* ``normalize_hamza(method="tasheel")``  hamza carriers become their base letter
  (alef forms and the combining hamza marks -> ALEF, WAW_HAMZA -> WAW, YEH_HAMZA -> YEH).
  The "uniform" method is not offered: it rewrites a word-initial madda differently from an
  inner one, which only makes sense word by word, and turns every hamza into a bare HAMZA,
  which hurts Darija spelled the way people type it.

``darija_assets_tests/text/test_normalize.py`` checks these expressions against the
pyarabic functions themselves on varied text, so the semantics stay PyArabic's.

Around those rules, the web is scrubbed: HTML entities (each distinct one decoded by
``html.unescape``), script/style blocks, comments, tags, URLs, e-mail addresses, then every character outside the kept set (Arabic
letters, plus digits / Latin-script Arabizi / segmentation punctuation as ``CleanOptions``
says) becomes a space; emojis, symbols and foreign scripts go that way. Combining marks
and invisible format characters (ZWNJ, BOM, variation selectors) are deleted without a
space so they never split a word. Whitespace is collapsed, keeping newlines, because
sentence segmentation splits on them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import NamedTuple

import polars as pl

from darija_assets.text.quality import arabic_script_ratio

STAGE = "clean_text"

#: PyArabic's TASHKEEL: FATHATAN..SUKUN, contiguous in Unicode.
TASHKEEL_CLASS = r"\x{064B}-\x{0652}"
TATWEEL = "\u0640"

#: PyArabic's LIGUATURES, each normalised to LAM + ALEF (normalize_ligature).
LAM_ALEF_LIGATURES = ("\ufefb", "\ufef7", "\ufef9", "\ufef5")
LAM_ALEF = "\u0644\u0627"

#: normalize_hamza(method="tasheel"): each hamza carrier to its base letter.
HAMZA_TASHEEL = {
    "\u0622": "\u0627",  # ALEF_MADDA -> ALEF
    "\u0623": "\u0627",  # ALEF_HAMZA_ABOVE -> ALEF
    "\u0625": "\u0627",  # ALEF_HAMZA_BELOW -> ALEF
    "\u0654": "\u0627",  # HAMZA_ABOVE (combining) -> ALEF
    "\u0655": "\u0627",  # HAMZA_BELOW (combining) -> ALEF
    "\u0624": "\u0648",  # WAW_HAMZA -> WAW
    "\u0626": "\u064a",  # YEH_HAMZA -> YEH
}

#: Arabic-script letters kept: the core alphabet, the extended letters Maghrebi writing
#: uses (ڤ ڭ گ پ چ ...), and the Arabic Supplement block.
ARABIC_LETTER_CLASS = (
    r"\x{0621}-\x{063A}\x{0641}-\x{064A}\x{0671}-\x{06D3}\x{06D5}\x{06EE}\x{06EF}"
    r"\x{06FA}-\x{06FC}\x{0750}-\x{077F}"
)
#: ASCII, Arabic-Indic and Extended (Persian) Arabic-Indic digits.
DIGIT_CLASS = r"0-9\x{0660}-\x{0669}\x{06F0}-\x{06F9}"
#: Latin letters for Arabizi and French code-switching (ASCII, Latin-1, Latin Extended-A).
LATIN_CLASS = r"A-Za-z\x{00C0}-\x{00D6}\x{00D8}-\x{00F6}\x{00F8}-\x{017F}"
#: Sentence enders, clause separators and dialogue markers that segment.py splits on.
PUNCTUATION_CLASS = r".!?\x{061F}\x{060C}\x{061B},;:\x{2026}\-\x{2013}\x{2014}\x{00AB}\x{00BB}\x{201C}\x{201D}\x{0022}"

# Web remnants, removed before the character filter so that their letters do not survive
# as words. Kept as separate passes: each has a literal ("<", "://", "@") the regex engine
# jumps to, which one alternation of them all would lose (it is 30x slower).
HTML_ENTITY_RE = r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
HTML_RE = r"(?is:<(?:script|style)\b.*?</(?:script|style)\s*>|<!--.*?-->)|</?[A-Za-z][^<>]{0,500}>"
URL_RE = r"(?i:(?:https?://|ftp://|www\.)\S+)"
EMAIL_RE = r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
WEB_REMNANT_RES = (HTML_RE, URL_RE, EMAIL_RE)
LATIN_TOKEN_RE = rf"[{LATIN_CLASS}0-9]*[{LATIN_CLASS}][{LATIN_CLASS}0-9]*"
#: Runs of spaces become one, then spaces around newlines vanish (two passes, each with a
#: literal start, run 8x faster than one alternation).
SPACE_RUN_RE = r" {2,}"
AROUND_NEWLINE_RE = r" ?\n[\n ]*"


@dataclass(frozen=True)
class CleanOptions:
    """What ``clean_frame`` keeps besides Arabic letters, and which PyArabic rules it applies.

    Arabizi writes 3/7/9 for ع/ح/ق, so keeping Latin script usefully needs ``keep_digits``
    too (its default). Without ``keep_punctuation`` sentences can only split on newlines.
    """

    keep_digits: bool = True
    keep_latin: bool = False
    keep_punctuation: bool = True
    strip_tashkeel: bool = True
    strip_tatweel: bool = True
    normalize_ligatures: bool = True
    normalize_hamza: bool = True


class CleanResult(NamedTuple):
    #: the input rows that kept some text, with ``out_col`` added
    frame: pl.DataFrame
    #: rows whose text is null, empty, or nothing but noise: id columns + reason + stage
    quarantine: pl.DataFrame
    #: rows_in, rows_out, rows_empty_after_clean, chars_in, chars_out, chars_removed,
    #: arabic_script_ratio
    stats: dict


def kept_class(options: CleanOptions) -> str:
    """The body of the regex character class of everything ``clean_frame`` keeps, whitespace
    aside (spaces and newlines are kept, other whitespace becomes a space)."""
    kept = ARABIC_LETTER_CLASS
    if not options.strip_tashkeel:
        kept += TASHKEEL_CLASS
    if not options.strip_tatweel:
        kept += TATWEEL
    if options.keep_digits:
        kept += DIGIT_CLASS
    if options.keep_latin:
        kept += LATIN_CLASS
    if options.keep_punctuation:
        kept += PUNCTUATION_CLASS
    return kept


def noise_re(options: CleanOptions) -> str:
    """What becomes a space: whole Latin tokens unless kept (digits too, so Arabizi "3lach"
    leaves no stray "3"), then runs of anything else outside the kept set."""
    kept = kept_class(options)
    if options.keep_latin:
        return rf"[^{kept}\n ]+"
    return rf"{LATIN_TOKEN_RE}|[^{kept}{LATIN_CLASS}\n ]+"


def invisible_re(options: CleanOptions) -> str:
    """Combining marks and format characters (ZWNJ, BOM, variation selectors) not kept: they
    sit inside words, so they are deleted, never turned into a space."""
    return rf"[[\p{{Mn}}\p{{Me}}\p{{Cf}}]--[{kept_class(options)}]]"


def pyarabic_expr(
    expr: pl.Expr, options: CleanOptions = CleanOptions(), delete: bool = True
) -> pl.Expr:
    """PyArabic's letter normalisation as polars expressions (see the module docstring).

    Each rule is one character-class replacement (several times faster than one
    ``replace_many`` of all the pairs). The rules touch disjoint characters, so their
    order does not change the result. With ``delete=False`` the tashkeel/tatweel deletion
    is left out: ``clean_expr`` does it in its invisible-character pass instead.
    """
    rules: list[tuple[str, str]] = []
    if options.normalize_ligatures:
        rules.append(("".join(LAM_ALEF_LIGATURES), LAM_ALEF))
    deleted = (TASHKEEL_CLASS if options.strip_tashkeel else "") + (
        TATWEEL if options.strip_tatweel else ""
    )
    if deleted and delete:
        rules.append((deleted, ""))
    if options.normalize_hamza:
        for base in dict.fromkeys(HAMZA_TASHEEL.values()):
            carriers = "".join(c for c, b in HAMZA_TASHEEL.items() if b == base)
            rules.append((carriers, base))
    for chars, replacement in rules:
        expr = expr.str.replace_all(f"[{chars}]", replacement)
    return expr


def entity_table(text: pl.Series) -> dict[str, str]:
    """Each distinct HTML entity in ``text`` and what ``html.unescape`` decodes it to.

    A corpus holds few distinct entities however large it is, so decoding those in Python
    and replacing them all in one vectorised ``replace_many`` is both exact and fast.
    """
    found = text.str.extract_all(HTML_ENTITY_RE).explode().drop_nulls().unique()
    return {entity: html.unescape(entity) for entity in found}


def clean_expr(
    expr: pl.Expr, options: CleanOptions = CleanOptions(), entities: dict[str, str] | None = None
) -> pl.Expr:
    """The whole cleaning of a string expression; ``entities`` from ``entity_table``.

    Entities are decoded first, so escaped markup ("&lt;br&gt;") goes with the real markup.
    """
    if entities:
        expr = expr.str.replace_many(list(entities), list(entities.values()))
    for pattern in WEB_REMNANT_RES:
        expr = expr.str.replace_all(pattern, " ")
    # Tashkeel is Mn and not kept when stripped, so the invisible pass deletes it; tatweel
    # joins that pass too (one pass fewer; deletion and the other rules touch disjoint
    # characters, so doing it after them changes nothing).
    expr = pyarabic_expr(expr, options, delete=False)
    deleted = (
        rf"[{invisible_re(options)}{TATWEEL}]" if options.strip_tatweel else invisible_re(options)
    )
    return (
        expr.str.replace_all(deleted, "")
        .str.replace_all(noise_re(options), " ")
        .str.replace_all(SPACE_RUN_RE, " ")
        .str.replace_all(AROUND_NEWLINE_RE, "\n")
        .str.strip_chars()
    )


def clean_series(text: pl.Series, options: CleanOptions = CleanOptions()) -> pl.Series:
    """Clean a string Series (see ``clean_frame``, which also reports and quarantines)."""
    text = text.cast(pl.String)
    return (
        pl.LazyFrame({"t": text})
        .select(clean_expr(pl.col("t"), options, entity_table(text)))
        .collect(engine="streaming")["t"]
    )


def keeps_only_arabic_letters(options: CleanOptions) -> bool:
    """Whether every letter ``clean_expr`` can leave is Arabic script.

    Cleaned text holds only characters of ``kept_class`` and spaces or newlines: the noise
    pass turns everything else (and every Latin token, unless kept) into a space, and the
    passes after it only delete. In the kept class, ARABIC_LETTER_CLASS is all Arabic
    script, and digits, punctuation and tashkeel are no letters; only Latin letters and
    tatweel (a letter, Lm, of Common script) are letters of another script.
    """
    return options.strip_tatweel and not options.keep_latin


def clean_arabic_script_ratio(clean: pl.Series, options: CleanOptions) -> float:
    """``arabic_script_ratio`` of text cleaned with ``options``, without counting letters
    when the options can only leave Arabic ones (then it is 1.0 if any letter is left)."""
    if keeps_only_arabic_letters(options):
        return 1.0 if clean.drop_nulls().str.contains(r"\p{L}").any() else 0.0
    return arabic_script_ratio(clean)


def clean_frame(
    df: pl.DataFrame,
    options: CleanOptions = CleanOptions(),
    text_col: str = "raw_text",
    out_col: str = "clean_text",
) -> CleanResult:
    """Add ``out_col`` (the cleaned ``text_col``) to ``df``; quarantine rows left empty.

    Returns ``CleanResult(frame, quarantine, stats)``; it unpacks as a 3-tuple.
    Quarantine columns: whichever of url, source, content_hash ``df`` has, plus
    ``reason`` and ``stage`` ("clean_text").
    """
    if text_col not in df.columns:
        raise KeyError(f"clean_frame: column {text_col!r} not in {df.columns}")
    df = df.with_columns(pl.col(text_col).cast(pl.String))  # an all-null column has dtype Null
    entities = entity_table(df[text_col])
    frame = (
        df.lazy()
        .with_columns(clean_expr(pl.col(text_col), options, entities).alias(out_col))
        .collect(engine="streaming")
    )
    raw = pl.col(text_col)
    reason = (
        pl.when(raw.is_null())
        .then(pl.lit(f"{text_col} is null"))
        .when(raw.str.strip_chars() == "")
        .then(pl.lit(f"{text_col} is empty"))
        .otherwise(
            pl.format(
                "empty after cleaning: all {} characters were links, markup, emojis or "
                "non-Arabic noise",
                raw.str.len_chars(),
            )
        )
    )
    is_empty = pl.col(out_col).is_null() | (pl.col(out_col) == "")
    id_cols = [c for c in ("url", "source", "content_hash") if c in df.columns]
    quarantine = frame.filter(is_empty).select(
        *id_cols, reason.alias("reason"), pl.lit(STAGE).alias("stage")
    )
    kept = frame.filter(~is_empty)

    chars_in = int(frame[text_col].str.len_chars().sum() or 0)
    chars_out = int(frame[out_col].str.len_chars().sum() or 0)
    stats = {
        "rows_in": df.height,
        "rows_out": kept.height,
        "rows_empty_after_clean": quarantine.height,
        "chars_in": chars_in,
        "chars_out": chars_out,
        "chars_removed": chars_in - chars_out,
        "arabic_script_ratio": clean_arabic_script_ratio(kept[out_col], options),
    }
    return CleanResult(kept, quarantine, stats)
