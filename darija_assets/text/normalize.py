"""Normalise raw Darija text into clean Arabic-script text with vectorised polars passes.

Unicode comes first, so that the same words always clean to the same text however they were
encoded (PDF extraction, macOS and some phone keyboards, chat exports):

* Presentation forms (U+FB50..U+FDFF, U+FE70..U+FEFF) become plain letters by Unicode
  compatibility normalisation (NFKC, polars ``str.normalize``, applied to the distinct
  tokens it changes: see ``normal_form_table``). That covers every lam-alef
  ligature, isolated and final (U+FEF5..U+FEFC -> "لآ" "لأ" "لإ" "لا", no space inserted),
  and every letter's isolated/initial/medial/final form. NFKC writes the isolated harakat
  and shadda ligatures (U+FE70, U+FE72, ... U+FE7E, U+FC5E..U+FC63) as a SPACE plus the
  mark, which would split the word they sit in: they are mapped to the bare mark first
  (``SPACED_MARK_FORMS``). NFKC also composes decomposed text (NFD: a letter followed by
  U+0653 madda, U+0654/U+0655 hamza), so "سأل" typed decomposed cleans like "سأل".
  Side effects, all wanted: NBSP (U+00A0), NNBSP (U+202F) and the other fixed-width
  spaces become a plain space, "…" becomes "...", fullwidth and small forms become ASCII
  punctuation. The honorific ligatures U+FD40..U+FD4F are symbols without a decomposition
  and go as noise; U+FDFA/U+FDFB spell out their phrase.
* Digits: Arabic-Indic (U+0660..U+0669) and Eastern Arabic-Indic (U+06F0..U+06F9) digits
  are mapped to ASCII 0-9 (Moroccan and Algerian writing uses 0-9, and "٣" and "3" are
  then one token); kept with ``keep_digits``, removed (a space) otherwise.
* Line breaks: CR, NEL, U+2028 and U+2029 become a newline (sentences split on them).
* Format controls (category Cf: zero-width space/non-joiner/joiner U+200B..U+200D, the bidi
  marks and embeddings U+200E/U+200F, U+202A..U+202E, U+2066..U+2069, U+061C ARABIC
  LETTER MARK, the BOM) are deleted without a space, so they never split a word.

The letter-level rules are PyArabic's (``pyarabic.araby``), re-expressed as polars string
expressions so a whole partition is cleaned in Rust instead of a Python loop per row:

* ``strip_tashkeel``   the eight marks U+064B..U+0652 (harakat, tanwin, shadda, sukun)
* ``strip_tatweel``    U+0640
* ``normalize_ligature``  the four isolated lam-alef ligatures become LAM + ALEF (in
  ``clean_expr`` NFKC does this, for the final forms too)
* ``normalize_hamza(method="tasheel")``  hamza carriers become their base letter
  (alef forms and the combining hamza marks -> ALEF, WAW_HAMZA -> WAW, YEH_HAMZA -> YEH).
  The "uniform" method is not offered: it rewrites a word-initial madda differently from an
  inner one, which only makes sense word by word, and turns every hamza into a bare HAMZA,
  which hurts Darija spelled the way people type it.

``darija_assets_tests/text/test_normalize.py`` checks these expressions against the
pyarabic functions themselves on varied text, so the semantics stay PyArabic's; PyArabic
leaves presentation forms and decomposed text alone, hence the Unicode pass before it.

Around those rules, the web is scrubbed: HTML entities (each distinct one decoded by
``html.unescape``), script/style blocks, comments, tags, URLs, e-mail addresses, then every character outside the kept set (Arabic
letters, plus digits / Latin-script Arabizi / segmentation punctuation as ``CleanOptions``
says) becomes a space; emojis, symbols and foreign scripts go that way. Combining marks
and invisible format characters (ZWNJ, BOM, variation selectors) are deleted without a
space so they never split a word. Whitespace is collapsed, keeping newlines, because
sentence segmentation splits on them.

A row whose cleaned text has no letter left (empty, or only digits and punctuation) is
quarantined with its reason; it is never kept as "." for segmentation to drop unseen.
"""

from __future__ import annotations

import html
import sys
import unicodedata
from dataclasses import dataclass, replace
from functools import cache
from itertools import chain
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
#: ASCII digits: Arabic-Indic and Eastern Arabic-Indic ones are mapped to them first.
DIGIT_CLASS = r"0-9"
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


#: The Arabic Presentation Forms-A and -B blocks.
PRESENTATION_FORMS = tuple(chr(cp) for cp in chain(range(0xFB50, 0xFE00), range(0xFE70, 0xFF00)))


def _spaced_mark_forms() -> dict[str, str]:
    """Presentation forms whose NFKC is a space followed by combining marks (the isolated
    harakat U+FE70.., the shadda ligatures U+FC5E..U+FC63), each mapped to its bare marks."""
    forms = {}
    for char in PRESENTATION_FORMS:
        nfkc = unicodedata.normalize("NFKC", char)
        if len(nfkc) > 1 and nfkc[0] == " " and all(unicodedata.combining(m) for m in nfkc[1:]):
            forms[char] = nfkc[1:]
    return forms


SPACED_MARK_FORMS = _spaced_mark_forms()
#: Arabic-Indic and Eastern Arabic-Indic digits to ASCII.
DIGIT_MAP = {chr(block + d): str(d) for block in (0x0660, 0x06F0) for d in range(10)}
#: Line breaks other than LF (CR, NEL, LINE and PARAGRAPH SEPARATOR) to LF.
LINE_BREAK_MAP = dict.fromkeys("\r\u0085\u2028\u2029", "\n")


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
    #: in ``clean_expr``: NFKC (presentation forms and every ligature to plain letters);
    #: False applies NFC only (decomposed text is still composed), and presentation forms
    #: are then removed as noise. In ``pyarabic_expr``: PyArabic's normalize_ligature.
    normalize_ligatures: bool = True
    normalize_hamza: bool = True


class CleanResult(NamedTuple):
    #: the input rows that kept some letters, with ``out_col`` added
    frame: pl.DataFrame
    #: rows whose text is null, empty, or cleans to no letter: id columns + reason + stage
    quarantine: pl.DataFrame
    #: rows_in, rows_out, rows_quarantined, rows_without_letters, chars_in, chars_out,
    #: chars_removed, arabic_script_ratio
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


def prepare_expr(
    expr: pl.Expr, options: CleanOptions = CleanOptions(), entities: dict[str, str] | None = None
) -> pl.Expr:
    """The first pass of cleaning: HTML entities decoded (``entities`` from
    ``entity_table``), then digits, line breaks and, with ``normalize_ligatures``, the
    spaced-mark presentation forms mapped (one ``replace_many``).

    Entities go first, so escaped markup ("&lt;br&gt;") goes with the real markup and an
    escaped presentation form or digit goes through the Unicode pass.
    """
    if entities:
        expr = expr.str.replace_many(list(entities), list(entities.values()))
    mapping = {**DIGIT_MAP, **LINE_BREAK_MAP}
    if options.normalize_ligatures:
        mapping |= SPACED_MARK_FORMS
    return expr.str.replace_many(mapping)


def _char_class(code_points: list[int]) -> str:
    """A regex character class body of the code points, as ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(set(code_points)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(rf"\x{{{a:X}}}-\x{{{b:X}}}" for a, b in ranges)


@cache
def unstable_token_re() -> str:
    """A token (a run without space or newline) that NFKC may change: it holds a character
    NFKC rewrites, one that may compose with the character before it (U+0653..U+0655 after
    alef, waw, yeh ...), or two combining marks in a row (NFKC puts marks in canonical order).

    Built from ``unicodedata`` on first use (about 0.4 s), not at import.
    """
    changing, marks = [], []
    for cp in chain(range(0xA0, 0xD800), range(0xE000, sys.maxunicode + 1)):
        char = chr(cp)
        if unicodedata.combining(char):
            marks.append(cp)
        if not unicodedata.is_normalized("NFKC", char):
            changing.append(cp)
        decomposition = unicodedata.decomposition(char).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            changing.append(int(decomposition[1], 16))
    return rf"[^ \n]*(?:[{_char_class(changing)}]|[{_char_class(marks)}]{{2}})[^ \n]*"


def normal_form_table(
    prepared: pl.Series, options: CleanOptions = CleanOptions()
) -> dict[str, str]:
    """Each distinct token of ``prepared`` (``prepare_expr`` output) that NFKC (NFC without
    ``normalize_ligatures``) changes, with its normal form (polars ``str.normalize``).

    Normalisation never reaches across a space or a newline (both are starters that compose
    with nothing), so replacing these tokens normalises the whole text exactly, and a corpus
    holds far fewer distinct such tokens than characters: normalising them and replacing
    them in one ``replace_many`` is several times faster than normalising every row. Longest
    first, so that with ``leftmost=True`` a token is never replaced by a shorter one that
    starts it.
    """
    tokens = prepared.str.extract_all(unstable_token_re()).explode().drop_nulls().unique()
    form = "NFKC" if options.normalize_ligatures else "NFC"
    table = pl.DataFrame({"token": tokens, "normal": tokens.str.normalize(form)})
    table = table.filter(pl.col("token") != pl.col("normal")).sort(
        pl.col("token").str.len_bytes(), descending=True
    )
    return dict(table.iter_rows())


def clean_expr(
    prepared: pl.Expr,
    options: CleanOptions = CleanOptions(),
    normal_forms: dict[str, str] | None = None,
) -> pl.Expr:
    """The cleaning after ``prepare_expr``; ``normal_forms`` from ``normal_form_table``."""
    expr = prepared
    if normal_forms:
        # leftmost: the longest token starting at a place wins (the table is longest first)
        expr = expr.str.replace_many(list(normal_forms), list(normal_forms.values()), leftmost=True)
    for pattern in WEB_REMNANT_RES:
        expr = expr.str.replace_all(pattern, " ")
    # NFKC already turned every ligature into letters: PyArabic's four-ligature rule would
    # be a pass that changes nothing. Tashkeel is Mn and not kept when stripped, so the
    # invisible pass deletes it; tatweel joins that pass too (one pass fewer; deletion and
    # the other rules touch disjoint characters, so doing it after them changes nothing).
    expr = pyarabic_expr(expr, replace(options, normalize_ligatures=False), delete=False)
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


def with_clean_column(
    df: pl.DataFrame, options: CleanOptions, text_col: str, out_col: str
) -> pl.DataFrame:
    """``df`` with ``out_col``, the cleaned ``text_col`` (a String column): the prepare pass,
    the tables it needs computed from the data, then the rest, each a streaming query."""
    entities = entity_table(df[text_col])
    prepared = (
        df.lazy()
        .with_columns(prepare_expr(pl.col(text_col), options, entities).alias(out_col))
        .collect(engine="streaming")
    )
    normal_forms = normal_form_table(prepared[out_col], options)
    return (
        prepared.lazy()
        .with_columns(clean_expr(pl.col(out_col), options, normal_forms))
        .collect(engine="streaming")
    )


def clean_series(text: pl.Series, options: CleanOptions = CleanOptions()) -> pl.Series:
    """Clean a string Series (see ``clean_frame``, which also reports and quarantines)."""
    frame = pl.DataFrame({"t": text.cast(pl.String)})
    return with_clean_column(frame, options, "t", "clean")["clean"]


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
    """Add ``out_col`` (the cleaned ``text_col``) to ``df``; quarantine rows left without
    a letter.

    Returns ``CleanResult(frame, quarantine, stats)``; it unpacks as a 3-tuple. ``frame``
    keeps every column of ``df`` (a chat's ``speaker`` included). Quarantine columns:
    whichever of url, source, content_hash ``df`` has, plus ``reason`` and ``stage``
    ("clean_text"). Reasons: the text is null, blank, empty after cleaning (all links,
    markup, emojis or non-Arabic noise), or left with no letter (only digits or
    punctuation; what was left is quoted). Raises ``KeyError`` if ``text_col`` is missing.
    """
    if text_col not in df.columns:
        raise KeyError(f"clean_frame: column {text_col!r} not in {df.columns}")
    df = df.with_columns(pl.col(text_col).cast(pl.String))  # an all-null column has dtype Null
    frame = with_clean_column(df, options, text_col, out_col)
    raw, out = pl.col(text_col), pl.col(out_col)
    raw_chars = raw.str.len_chars().cast(pl.String)
    # concat_str, not pl.format: pl.format panics on multi-chunk columns (see segment.py).
    reason = (
        pl.when(raw.is_null())
        .then(pl.lit(f"{text_col} is null"))
        .when(raw.str.strip_chars() == "")
        .then(pl.lit(f"{text_col} is empty"))
        .when(out == "")
        .then(
            pl.concat_str(
                pl.lit("empty after cleaning: all "),
                raw_chars,
                pl.lit(" characters were links, markup, emojis or non-Arabic noise"),
            )
        )
        .otherwise(
            pl.concat_str(
                pl.lit("no letters after cleaning: only digits or punctuation left ('"),
                out.str.slice(0, 40),
                pl.lit("' of "),
                raw_chars,
                pl.lit(" characters)"),
            )
        )
    )
    no_letter = out.is_null() | ~out.str.contains(r"\p{L}")
    id_cols = [c for c in ("url", "source", "content_hash") if c in df.columns]
    quarantine = frame.filter(no_letter).select(
        *id_cols, reason.alias("reason"), pl.lit(STAGE).alias("stage")
    )
    kept = frame.filter(~no_letter)

    chars_in = int(frame[text_col].str.len_chars().sum() or 0)
    chars_out = int(frame[out_col].str.len_chars().sum() or 0)
    stats = {
        "rows_in": df.height,
        "rows_out": kept.height,
        "rows_quarantined": quarantine.height,
        "rows_without_letters": int(frame.select((out != "") & no_letter).to_series().sum()),
        "chars_in": chars_in,
        "chars_out": chars_out,
        "chars_removed": chars_in - chars_out,
        "arabic_script_ratio": clean_arabic_script_ratio(kept[out_col], options),
    }
    return CleanResult(kept, quarantine, stats)
