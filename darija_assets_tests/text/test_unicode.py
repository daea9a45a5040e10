"""The Unicode pass of clean_text, kind by kind: real Darija arrives in presentation forms
(PDF extraction), decomposed (macOS, some keyboards), with bidi and zero-width controls,
odd spaces and three digit systems. The same words must always clean to the same text.

Cases 10 and 11 of ../shared/cases are tested with their own input files; every kind is
also tested whole (every lam-alef form, every presentation-form letter, every hamza and
madda carrier, every control character class), and a hypothesis property ties them
together: clean(NFC(x)) == clean(NFD(x)) == clean(presentation(x)).
"""

from __future__ import annotations

import unicodedata

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from darija_assets.text.normalize import (
    ARABIC_LETTER_CLASS,
    PRESENTATION_FORMS,
    SPACED_MARK_FORMS,
    CleanOptions,
    clean_frame,
    clean_series,
)
from darija_assets_tests.text.cases import case_rows

DEFAULT = CleanOptions()


def clean(*texts: str, options: CleanOptions = DEFAULT) -> list[str]:
    return clean_series(pl.Series(list(texts), dtype=pl.String), options).to_list()


def case_texts(case: str) -> list[str]:
    return [row["text"] for row in case_rows(f"{case}/doc.jsonl")]


def is_arabic_letter(text: str) -> bool:
    return len(text) == 1 and bool(pl.Series([text]).str.contains(f"^[{ARABIC_LETTER_CLASS}]$")[0])


#: every presentation form that NFKC turns into one Arabic letter (what PDF text is made of)
LETTER_FORMS = {
    form: unicodedata.normalize("NFKC", form)
    for form in PRESENTATION_FORMS
    if is_arabic_letter(unicodedata.normalize("NFKC", form))
}
LAM_ALEF_FORMS = [chr(cp) for cp in range(0xFEF5, 0xFEFD)]


# --- the cases -------------------------------------------------------------------------


def test_case_10_presentation_forms_clean_like_plain_letters():
    forms, plain = case_texts("10_ar_presentation_forms")
    assert clean(forms, plain) == ["منصة واحدة. راني حزين بزاف"] * 2


def test_case_11_final_lam_alef_ligatures_make_two_letters_without_a_space():
    final_forms, plain, isolated = case_texts("11_ar_lam_alef_final_ligature")
    assert clean(final_forms, plain, isolated) == ["كلام خلاص", "كلام خلاص", "للاباس"]


def test_case_10_is_no_longer_quarantined_nor_kept_as_a_dot():
    raw = pl.DataFrame({"url": ["l1", "l2"], "raw_text": case_texts("10_ar_presentation_forms")})
    frame, quarantine, _ = clean_frame(raw)
    assert quarantine.height == 0
    assert frame["clean_text"].n_unique() == 1


# --- whole kinds -----------------------------------------------------------------------


def test_every_letter_presentation_form_cleans_like_its_letter():
    assert len(LETTER_FORMS) == 241  # isolated/initial/medial/final forms of 70-odd letters
    words = [f"ب{form}ت" for form in LETTER_FORMS]
    plain = [f"ب{letter}ت" for letter in LETTER_FORMS.values()]
    assert clean(*words) == clean(*plain)
    # each stayed one word with its letter in it (nothing became a space or vanished)
    assert all(len(word) == 3 and " " not in word for word in clean(*words))


def test_every_presentation_form_cleans_like_its_compatibility_decomposition():
    """All of U+FB50..U+FDFF and U+FE70..U+FEFF, ligatures of two and three letters
    included: the letters survive, inside the word."""
    assigned = [f for f in PRESENTATION_FORMS if unicodedata.category(f) != "Cn"]
    decomposed = [unicodedata.normalize("NFKC", SPACED_MARK_FORMS.get(f, f)) for f in assigned]
    assert clean(*[f"ب{f}ت" for f in assigned]) == clean(*[f"ب{d}ت" for d in decomposed])
    ligatures = [f for f, d in zip(assigned, decomposed) if len(d) > 1 and d.isalpha()]
    assert len(ligatures) > 400
    assert all(" " not in word for word in clean(*[f"ب{f}ت" for f in ligatures]))


@pytest.mark.parametrize("form", LAM_ALEF_FORMS, ids=lambda f: f"U+{ord(f):04X}")
def test_every_lam_alef_ligature_isolated_and_final_is_two_letters(form):
    letters = unicodedata.normalize("NFKC", form)
    assert letters[0] == "ل" and len(letters) == 2
    assert clean(f"ك{form}م") == ["كلام"]  # hamza carriers become alef (tasheel)
    assert clean(f"ك{form}م", options=CleanOptions(normalize_hamza=False)) == [f"ك{letters}م"]


@pytest.mark.parametrize("form", sorted(SPACED_MARK_FORMS), ids=lambda f: f"U+{ord(f):04X}")
def test_isolated_harakat_and_shadda_ligatures_never_split_the_word(form):
    # NFKC alone writes these as a space plus the mark: "ق َال" would be two words
    assert clean(f"ق{form}ال") == ["قال"]
    kept = clean(f"ق{form}ال", options=CleanOptions(strip_tashkeel=False))[0]
    assert " " not in kept and kept.startswith("ق") and kept.endswith("ال")


#: composed letter -> the letter and the combining mark typed decomposed
COMPOSED = {
    "\u0622": "\u0627\u0653",  # alef madda
    "\u0623": "\u0627\u0654",  # alef hamza above
    "\u0625": "\u0627\u0655",  # alef hamza below
    "\u0624": "\u0648\u0654",  # waw hamza
    "\u0626": "\u064a\u0654",  # yeh hamza
    "\u06c0": "\u06d5\u0654",  # heh with yeh above
    "\u06c2": "\u06c1\u0654",  # heh goal with hamza
    "\u06d3": "\u06d2\u0654",  # yeh barree with hamza
}


@pytest.mark.parametrize("composed", list(COMPOSED), ids=lambda c: f"U+{ord(c):04X}")
def test_decomposed_hamza_and_madda_clean_like_precomposed(composed):
    decomposed = COMPOSED[composed]
    assert unicodedata.normalize("NFD", composed) == decomposed
    for options in (CleanOptions(), CleanOptions(normalize_hamza=False)):
        assert clean(f"س{decomposed}ل", options=options) == clean(f"س{composed}ل", options=options)
    # with tashkeel in between (NFD puts the hamza after the harakat of lower class)
    assert clean(f"س{decomposed[0]}\u064e{decomposed[1]}ل") == clean(f"س{composed}\u064eل")


def test_decomposed_sal_is_not_saal():
    assert clean(unicodedata.normalize("NFD", "سأل سؤال مسائل آش إلى")) == ["سال سوال مسايل اش الى"]


CONTROLS = {
    "zero-width": "\u200b\u200c\u200d",
    "bidi marks": "\u200e\u200f\u061c",
    "bidi embeddings": "\u202a\u202b\u202c\u202d\u202e",
    "bidi isolates": "\u2066\u2067\u2068\u2069",
    "byte order mark": "\ufeff",
}


@pytest.mark.parametrize("kind", list(CONTROLS))
def test_format_controls_are_removed_without_splitting_words(kind):
    for char in CONTROLS[kind]:
        assert clean(f"{char}كي{char}داير {char}خويا{char}") == ["كيداير خويا"], (
            f"U+{ord(char):04X}"
        )


@pytest.mark.parametrize("space", ["\u00a0", "\u202f", "\u2007", "\u2009", "\u3000"])
def test_no_break_and_fixed_width_spaces_are_a_space(space):
    assert clean(f"واش{space}نتي{space}{space}لاباس") == ["واش نتي لاباس"]


def test_arabic_indic_digits_map_to_ascii_or_go_with_keep_digits():
    arabic_indic = "".join(chr(0x0660 + d) for d in range(10))
    eastern = "".join(chr(0x06F0 + d) for d in range(10))
    assert clean(f"رقم {arabic_indic} و {eastern}") == ["رقم 0123456789 و 0123456789"]
    no_digits = CleanOptions(keep_digits=False)
    assert clean(f"رقم {arabic_indic} و {eastern} 42", options=no_digits) == ["رقم و"]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\u0085", "\u2028", "\u2029"])
def test_every_line_break_is_a_newline(newline):
    assert clean(f"سطر لول{newline}سطر تاني") == ["سطر لول\nسطر تاني"]


def test_escaped_presentation_forms_and_digits_are_normalised_too():
    assert clean("&#65275;باس &#1635;") == ["لاباس 3"]


# --- the property ----------------------------------------------------------------------

#: Darija as typed: letters (hamza carriers and Maghrebi letters included), tashkeel,
#: tatweel, digits, punctuation, spaces and newlines.
DARIJA_ALPHABET = list("ابتثجحخدذرزسشصضطظعغفقكلمنهويءآأإؤئةىڭڤگپچ") + [
    "\u064b", "\u064c", "\u064d", "\u064e", "\u064f", "\u0650", "\u0651", "\u0652",
    "\u0640", "٣", "7", ".", "؟", "،", "!", ":", " ", " ", " ", "\n", "لا", "لأ", "لإ", "لآ",
]  # fmt: skip
darija_text = st.lists(st.sampled_from(DARIJA_ALPHABET), max_size=40).map("".join)

#: letter (or lam-alef pair) -> the presentation forms NFKC maps back to it
PRESENTATION_OF: dict[str, list[str]] = {}
for _form in PRESENTATION_FORMS:
    _target = unicodedata.normalize("NFKC", _form)
    if is_arabic_letter(_target) or (len(_target) == 2 and _form in LAM_ALEF_FORMS):
        PRESENTATION_OF.setdefault(_target, []).append(_form)


def presentation(text: str, rng) -> str:
    """``text`` with its letters (and lam-alef pairs) as presentation forms chosen by ``rng``
    among isolated, initial, medial and final ones."""
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in PRESENTATION_OF:
            out.append(rng.choice(PRESENTATION_OF[pair]))
            i += 2
            continue
        out.append(rng.choice(PRESENTATION_OF.get(text[i], [text[i]])))
        i += 1
    return "".join(out)


def test_presentation_map_covers_the_alphabet_in_all_positions():
    letters = [c for c in DARIJA_ALPHABET if is_arabic_letter(c)]
    assert all(c in PRESENTATION_OF for c in letters)
    names = {
        unicodedata.name(f).rsplit(" ", 2)[-2] for forms in PRESENTATION_OF.values() for f in forms
    }
    assert {"ISOLATED", "INITIAL", "MEDIAL", "FINAL"} <= names
    assert sorted(f for target in ("لا", "لأ", "لإ", "لآ") for f in PRESENTATION_OF[target]) == (
        LAM_ALEF_FORMS
    )


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(texts=st.lists(darija_text, min_size=1, max_size=8), rng=st.randoms(use_true_random=False))
def test_clean_is_the_same_for_nfc_nfd_and_presentation_forms(texts, rng):
    nfc = [unicodedata.normalize("NFC", t) for t in texts]
    nfd = [unicodedata.normalize("NFD", t) for t in texts]
    shown = [presentation(t, rng) for t in nfc]
    for options in (CleanOptions(), CleanOptions(strip_tashkeel=False, normalize_hamza=False)):
        expected = clean(*nfc, options=options)
        assert clean(*nfd, options=options) == expected
        assert clean(*shown, options=options) == expected


#: any assigned character (as Python's Unicode database knows them), or Darija in
#: presentation forms; without fullwidth and small ampersands, which NFKC would turn into
#: HTML entities that clean_text decodes before normalising
any_text = st.text(
    st.characters(
        codec="utf-8", exclude_categories=["Cs", "Cn"], exclude_characters="\uff06\ufe60"
    ),
    max_size=30,
) | st.builds(presentation, darija_text, st.randoms(use_true_random=False))


@settings(max_examples=150, deadline=None, database=None)
@given(texts=st.lists(any_text, min_size=1, max_size=8))
def test_token_normalisation_equals_nfkc_of_the_whole_text(texts):
    """clean_text normalises only the tokens NFKC changes: the same as NFKC of the whole text
    (once the spaced-mark forms are bare marks, which NFKC would split words with)."""
    options = CleanOptions(keep_latin=True, strip_tashkeel=False, strip_tatweel=False)
    bare_marks = str.maketrans(SPACED_MARK_FORMS)
    whole = [unicodedata.normalize("NFKC", t.translate(bare_marks)) for t in texts]
    assert clean(*texts, options=options) == clean(*whole, options=options)
