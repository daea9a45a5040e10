"""A small Darija emotion lexicon: the honest offline labeller.

With no API key and no local model, ``teacher_labels`` still runs, labelled by
this lexicon and recorded as backend ``offline`` / model ``darija-lexicon-v1`` so
nobody mistakes it for a teacher model. It is deliberately simple and
transparent: a sentence gets the emotion whose cue words it contains most, or
Neutral when it contains none. It knows nothing a cue list cannot say (irony,
context), which is why rows carry their backend.

Cues are Arabic-script Darija (Moroccan and Algerian spellings people type),
matched after normalisation (tashkeel, tatweel, hamza carriers, ta marbuta,
alef maqsura, letters stretched for emphasis). A cue ending in ``*`` matches as a
stem (``فرحان*`` matches فرحانة, فرحانين). Clitics in front (و ف ب ل ال) are
peeled off. Negation, done where it is simple: the Darija circumfix ``ما...ش``
(مافرحانش) or a negator before the word (ما / ماشي / مشي / عمري). A negated Joy
or Love cue counts towards Sadness ("I am not happy"); other negated cues count
for nothing ("I am not afraid" is not fear).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyarabic import araby

LEXICON_MODEL = "darija-lexicon-v1"
NEUTRAL = "Neutral"

_CUES: dict[str, tuple[str, ...]] = {
    "Love": (
        "كنبغيك",
        "نبغيك",
        "كنبغيه",
        "كنبغيها",
        "بغيتك",
        "كنموت عليك",
        "حب",
        "الحب",
        "حبي",
        "حبيبي",
        "حبيبتي",
        "حبيت*",
        "نحبك",
        "كنحبك",
        "نحبها",
        "نحبو",
        "توحشت*",
        "توحشناك",
        "وحشتني",
        "مشتاق*",
        "الشوق",
        "شوق",
        "عشق*",
        "العشق",
        "غرام",
        "الغرام",
        "مغروم*",
        "بوسه",
        "عشيق*",
    ),
    "Joy": (
        "فرحان*",
        "فرحت*",
        "فرح",
        "الفرح",
        "فرحه",
        "ضحك*",
        "كنضحك",
        "نضحك",
        "تنضحك",
        "سعيد*",
        "السعاده",
        "مبسوط*",
        "نشاط",
        "نشطت",
        "تبسم*",
        "كنتزاها",
        "تزاهينا",
        "زهو",
        "الزهو",
        "فرحتي",
        "متهني",
        "هانيه",
    ),
    "Fear": (
        "خايف*",
        "خفت",
        "الخوف",
        "خوف",
        "كنخاف",
        "نخاف",
        "تنخاف",
        "تخلعت",
        "تخلع",
        "مخلوع*",
        "الخلعه",
        "رعب",
        "الرعب",
        "مرعوب*",
        "فزعت",
        "الفزع",
        "ترعدت",
    ),
    "Anger": (
        "زعفان*",
        "زعفت",
        "تزعفت",
        "الزعاف",
        "معصب*",
        "تعصبت",
        "العصبيه",
        "تقلقت",
        "مقلق*",
        "تقلق",
        "غضب*",
        "الغضب",
        "حقد",
        "الحقد",
        "كرهت*",
        "كنكره",
        "نكره",
        "الكره",
        "سخط",
        "عيقت",
        "حكرني",
        "الحكره",
    ),
    "Sadness": (
        "حزين*",
        "الحزن",
        "حزن",
        "بكا",
        "بكات",
        "بكيت*",
        "كنبكي",
        "نبكي",
        "كتبكي",
        "تبكي",
        "دموع*",
        "مات",
        "ماتت",
        "موت",
        "الموت",
        "توفي*",
        "مقهور*",
        "القهره",
        "تقهرت",
        "مكتئب*",
        "وحيد*",
        "الوحده",
        "مجروح*",
        "تحطمت",
        "مهموم*",
        "الهم",
    ),
    "Surprise": (
        "تصدم*",
        "مصدوم*",
        "صدمه",
        "الصدمه",
        "ماتيقتش",
        "ماصدقتش",
        "متيقتش",
        "تفاجات",
        "تفاجا*",
        "فجاه",
        "مفاجاه",
        "المفاجاه",
        "غريب",
        "واو",
    ),
}

#: ties go to the emotion listed first: the rarer, more specific feelings first
PRIORITY = ("Fear", "Anger", "Sadness", "Love", "Surprise", "Joy")
#: whole words that negate the next word
_NEGATORS = frozenset({"ما", "ماشي", "مشي", "مش", "عمري", "عمرني", "ماعمري"})
_CLITICS = ("وال", "فال", "بال", "ال", "و", "ف", "ب", "ل")
_LAUGHTER = re.compile(r"^(?:ه{3,}|خ{3,})$")
_WORD = re.compile(r"[\u0621-\u064A\u0671-\u06D3]+")


def normalise(text: str) -> str:
    """Fold the spelling variants people type into one form per word."""
    text = araby.strip_tatweel(araby.strip_tashkeel(text))
    text = araby.normalize_hamza(text, method="tasheel")
    text = text.replace("ة", "ه").replace("ى", "ي")
    return text


def _collapse_stretch(word: str) -> str:
    """حزيييين -> حزين: a letter typed three or more times is emphasis."""
    return re.sub(r"(.)\1{2,}", r"\1", word)


def _compile() -> tuple[dict[str, str], list[tuple[str, str]]]:
    exact: dict[str, str] = {}
    stems: list[tuple[str, str]] = []
    for emotion, cues in _CUES.items():
        for cue in cues:
            form = normalise(cue)
            if form.endswith("*"):
                stems.append((form[:-1], emotion))
            else:
                exact[form] = emotion
    # Longest stems first so the most specific cue wins.
    stems.sort(key=lambda stem: -len(stem[0]))
    return exact, stems


_EXACT, _STEMS = _compile()
_EXACT_PHRASES = {cue: emotion for cue, emotion in _EXACT.items() if " " in cue}


def _lookup(word: str) -> str | None:
    for form in _forms(word):
        if form in _EXACT:
            return _EXACT[form]
        for stem, emotion in _STEMS:
            if form.startswith(stem):
                return emotion
    return None


def _forms(word: str) -> list[str]:
    """The word, then the word with one clitic peeled off (keeping at least 2 letters)."""
    forms = [word]
    for clitic in _CLITICS:
        if word.startswith(clitic) and len(word) - len(clitic) >= 2:
            forms.append(word[len(clitic) :])
    return forms


@dataclass(frozen=True)
class Cue:
    word: str
    emotion: str
    negated: bool


def find_cues(text: str) -> list[Cue]:
    """Every cue in ``text``, in order, with its negation."""
    normal = normalise(text)
    words = [_collapse_stretch(w) for w in _WORD.findall(normal)]
    cues: list[Cue] = []
    joined = " ".join(words)
    for phrase, emotion in _EXACT_PHRASES.items():
        cues.extend(
            Cue(phrase, emotion, False) for _ in re.finditer(rf"(?<!\S){phrase}(?!\S)", joined)
        )
    for index, word in enumerate(_WORD.findall(normal)):
        if _LAUGHTER.match(word):
            cues.append(Cue(word, "Joy", False))
            continue
        word = words[index]
        negated_before = index > 0 and words[index - 1] in _NEGATORS
        emotion = _lookup(word)
        if emotion is not None:
            cues.append(Cue(word, emotion, negated_before))
            continue
        inner = _strip_negation(word)
        if inner is not None:
            emotion = _lookup(inner)
            if emotion is not None:
                cues.append(Cue(word, emotion, True))
        elif negated_before and word.endswith("ش") and len(word) > 3:
            # "ما فرحانش": the ش of the circumfix stays on the word after a separate ما
            emotion = _lookup(word[:-1])
            if emotion is not None:
                cues.append(Cue(word, emotion, True))
    return cues


def _strip_negation(word: str) -> str | None:
    """مافرحانش / مكنبغيش -> the inner word, or None when ``word`` is not negated."""
    if not word.endswith("ش") or len(word) < 5:
        return None
    for prefix in ("ما", "م"):
        if word.startswith(prefix):
            return word[len(prefix) : -1]
    return None


def score(text: str) -> dict[str, float]:
    """Cue counts per emotion (negated Joy/Love cues count towards Sadness)."""
    scores = {emotion: 0.0 for emotion in PRIORITY}
    for cue in find_cues(text):
        if not cue.negated:
            scores[cue.emotion] += 1.0
        elif cue.emotion in ("Joy", "Love"):
            scores["Sadness"] += 1.0
    return scores


def best_label(text: str, allowed: tuple[str, ...] | None = None) -> str | None:
    """The top-scoring emotion among ``allowed`` (case-insensitive; default: all);
    ``None`` when no allowed emotion has a cue (the caller decides what that means)."""
    wanted = {e.lower() for e in allowed} if allowed is not None else None
    scores = score(text)
    ranked = [e for e in PRIORITY if scores[e] > 0 and (wanted is None or e.lower() in wanted)]
    return max(ranked, key=lambda e: scores[e]) if ranked else None


def label(text: str) -> str:
    """The lexicon's label for one sentence: an emotion, or Neutral."""
    return best_label(text) or NEUTRAL
