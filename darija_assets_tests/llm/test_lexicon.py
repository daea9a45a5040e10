"""The offline labeller: a Darija emotion lexicon, checked on sentences written for it.

Why: with no key and no model, teacher_labels is labelled by this lexicon, so its
behaviour (normalisation, clitics, negation, Neutral as the fallback) must be
what the module says.
"""

from __future__ import annotations

import pytest

from darija_assets.llm import lexicon

CASES = [
    ("كنبغيك بزاف أ حبيبتي", "Love"),
    ("توحشتك بزاف يا ماما", "Love"),  # longing is Love, as the teacher's guidance says
    ("أنا فرحااااان اليوم", "Joy"),  # stretched letters
    ("هههههه ضحكتيني", "Joy"),  # laughter
    ("خَايْفَة من الليل", "Fear"),  # tashkeel and ta marbuta
    ("راني زعفان عليك", "Anger"),
    ("تقلقت منو بزاف", "Anger"),
    ("بكيت حتى تعييت", "Sadness"),
    ("مات جدي البارح", "Sadness"),
    ("تصدمت ملي شفتو، ماتيقتش", "Surprise"),
    ("وفرحت بيك", "Joy"),  # the clitic و peeled off
    ("مافرحانش بهاد الخبر", "Sadness"),  # negated joy counts as sadness
    ("ما فرحانش", "Sadness"),  # separate negator, ش left on the word
    ("مكنبغيكش", "Sadness"),  # negated love
    ("ماخايفش من حتى واحد", "Neutral"),  # "not afraid" is not fear
    ("مشيت للسوق وشريت الخبز", "Neutral"),  # purely factual
    ("الإمتحان غدا فالعشرة", "Neutral"),
]


@pytest.mark.parametrize(("sentence", "expected"), CASES)
def test_labels_crafted_sentences(sentence, expected):
    assert lexicon.label(sentence) == expected


def test_ties_follow_the_documented_priority_and_counts_win():
    # one Joy cue, one Fear cue: Fear comes first in PRIORITY
    assert lexicon.score("فرحان و خايف")["Joy"] == lexicon.score("فرحان و خايف")["Fear"] == 1.0
    assert lexicon.label("فرحان و خايف") == "Fear"
    # two Joy cues beat one Fear cue
    assert lexicon.label("فرحان و كنضحك و خايف شوية") == "Joy"


def test_cues_explain_the_label():
    cues = lexicon.find_cues("مافرحانش و كنبغيك")
    assert [(c.word, c.emotion, c.negated) for c in cues] == [
        ("مافرحانش", "Joy", True),
        ("كنبغيك", "Love", False),
    ]


def test_best_label_respects_a_restricted_label_set():
    # The Gemini pass's set has no Love: a Love cue cannot be the answer.
    assert lexicon.best_label("كنبغيك", ("JOY", "SADNESS", "NEUTRAL")) is None
    assert lexicon.best_label("كنبغيك و فرحان", ("JOY", "SADNESS")) == "Joy"
