"""The measures behind the corpus asset checks, on texts where the right answer is known."""

from __future__ import annotations

import polars as pl
import pytest

from darija_assets.text.quality import (
    MOJIBAKE_MAX_SHARE,
    arabic_script_ratio,
    duplicate_ratio,
    mojibake_mask,
    mojibake_rows,
    mojibake_share,
)

GENUINE = [
    "السلام عليكم، كيداير؟ واش نتا مزيان",
    "هادا شرط، ماشي سؤال. قالها: «سمع» و«ضبع»",
    "غدا نمشيو للبحر … إن شاء الله",
    "Øresund est un détroit, très joli",
    "ça va? Ça marche — naïve café",
]


DARIJA = [
    "راني حاس براسي بوحدي بزاف. ماعرفتش شنو ندير؟",
    "گالت ليا: «واخا، غادي نجي معاك» … ومن بعد ماجاتش",
    "مع في لا ما هو",  # only two-letter words
]
#: (codec the text was written in, codec it was read with): every way a Darija page is misread
MISREADINGS = [
    ("utf-8", "cp1252"),  # "Ø±Ø§Ù†ÙŠ"; undefined bytes 81 8D 8F 90 9D become U+FFFD
    ("utf-8", "latin-1"),  # the same with C1 controls ("Ù\x86")
    ("utf-8", "cp1256"),  # "ط±ط§ظ†ظٹ"
    ("cp1256", "latin-1"),  # "ÑÇäí", and gaf as the C1 control U+0090
    ("cp1256", "cp1252"),  # "ÑÇäí", and gaf as U+FFFD
    ("iso8859-6", "latin-1"),
    ("iso8859-6", "cp1252"),
]


@pytest.mark.parametrize(("written", "read"), MISREADINGS, ids="-as-".join)
@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_every_misreading_of_darija_is_mojibake(written, read, errors):
    broken = [text.encode(written, errors="replace").decode(read, errors=errors) for text in DARIJA]
    shares = mojibake_share(broken).to_list()
    assert all(share > 0.5 for share in shares), list(zip(broken, shares))
    assert mojibake_mask(broken).to_list() == [True] * len(DARIJA)


def test_known_mojibake_samples_and_replacement_character():
    samples = [
        "Ø±Ø§Ù†ÙŠ",  # UTF-8 "راني" read as cp1252
        "ÑÇäí ÍÇÓ",  # windows-1256 "راني حاس" read as latin-1
        "ط§ظ„ط³ظ„ط§ظ…",  # UTF-8 "السلام" read as cp1256
        "كلام \ufffd\ufffd هنا",
        "Ã©tÃ© Ã  la plage",  # UTF-8 French read as latin-1
        "Il a dit : â€œbonjourâ€\x9d",  # UTF-8 quotes read as cp1252
    ]
    assert mojibake_mask(samples).to_list() == [True] * len(samples)


def test_genuine_text_is_not_mojibake():
    genuine = [
        *DARIJA,
        *GENUINE,
        "A informação é boa, as mães e os irmãos",
        "Noël à l’hôtel, Où es-tu ? naïve «Ça»",
        "wach nta labas? 3afak jib lia l'ma",
    ]
    assert mojibake_share(genuine).to_list() == [0.0] * len(genuine)
    assert not mojibake_mask(genuine).any()


def test_share_is_per_text_aligned_and_judges_each_page_alone():
    long_page = " ".join([DARIJA[0]] * 200)
    one_bad = DARIJA[0].encode("cp1256").decode("latin-1")
    shares = mojibake_share(pl.Series([long_page, None, "", one_bad], dtype=pl.String))
    assert shares.to_list()[:3] == [0.0, 0.0, 0.0] and shares[3] > 0.5
    # One stray replacement character in a long page is not a mis-decoded page.
    assert mojibake_share([long_page + " \ufffd"])[0] < MOJIBAKE_MAX_SHARE
    frame = pl.DataFrame({"url": ["a", "b", "c"], "raw_text": [long_page, one_bad, "Ø±Ø§Ù†ÙŠ Ùˆ"]})
    bad = mojibake_rows(frame, "raw_text")
    assert bad["url"].to_list() == ["c", "b"]  # worst first
    assert bad["mojibake_share"].to_list() == sorted(bad["mojibake_share"], reverse=True)


def test_arabic_script_ratio_counts_letters_only():
    assert arabic_script_ratio(["abcd ابتث", "123 !!! ؟"]) == 0.5
    assert arabic_script_ratio(["ڭالت ليا گاع"]) == 1.0
    assert arabic_script_ratio(["hello"]) == 0.0
    assert arabic_script_ratio(pl.Series([None, "123"], dtype=pl.String)) == 0.0


def test_duplicate_ratio():
    assert duplicate_ratio(["a", "b", "a", "a", None]) == 0.5
    assert duplicate_ratio(["a", "b"]) == 0.0
    assert duplicate_ratio([]) == 0.0


def test_no_mojibake_check_fails_for_one_bad_page_in_a_large_source():
    from darija_assets import checks

    urls = [f"https://example.ma/{i}" for i in range(1000)]
    texts = [DARIJA[0]] * 999 + [DARIJA[1].encode("cp1256").decode("latin-1")]
    frame = pl.DataFrame({"url": urls, "raw_text": texts})
    bad = mojibake_rows(frame, "raw_text")
    result = checks.none_bad(
        "raw_corpus",
        "no_mojibake",
        list(zip(bad["url"], bad["mojibake_share"])),
        frame.height,
        MOJIBAKE_MAX_SHARE,
        what="chapters",
    )
    assert not result.passed
    assert result.metadata["bad_chapters"].value == 1
    assert "1 of 1000 chapters" in result.description and urls[-1] in result.description
    clean = checks.none_bad("raw_corpus", "no_mojibake", [], 999, MOJIBAKE_MAX_SHARE)
    assert clean.passed and clean.description is None
