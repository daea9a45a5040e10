"""The crisis guard: messages about suicide, self-harm or abuse get a fixed answer
before any model is asked (DESIGN.md principle 10).

Detection is a maintained list of patterns per language and script, matched on
normalised views of the message:

- **Arabic script** (Darija and MSA): PyArabic strips harakat and tatweel and folds
  the alef/hamza/teh-marbuta/alef-maqsura variants, then stretched letters
  ("بغيييت") collapse to one.
- **Latin script** (French, English): NFKD without accents, lower case, repeated
  letters collapsed ("kiiill" -> "kil"; patterns go through the same folding).
- **Arabizi** (Darija in Latin letters): the Latin view with the chat digits read as
  letters (7 -> h, 9 -> q, 5 -> kh, 8 -> gh; 2 and 3, hamza and ain, dropped) and
  the vowels dropped, so "bghiiit nmouuut", "bghit nmot" and "bghit nemout" are one
  skeleton, "bght nmt".

A second, softer tier (hopelessness: "I'm tired of life", "عييت من الدنيا") counts
as a crisis only when an optional emotion classifier (``emotion_hook``) reads the
message as Sadness or Fear with high confidence; without a classifier those
messages go to the model, whose system prompt carries the crisis guidance. The
classifier is never required.

The answer names only emergency numbers verified against a cited source (see
``EMERGENCY_SOURCES``). A number we could not verify is named as a service in the
notes, never invented.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# ---------------------------------------------------------------------------------------
# The answer and its sources
# ---------------------------------------------------------------------------------------

#: where each number in ``CRISIS_ANSWER`` comes from, and when it was read
EMERGENCY_SOURCES: dict[str, str] = {
    "Morocco 15 (ambulance and fire, Protection civile) and 19 (police)": (
        "CIA World Factbook, Morocco, Travel Facts, 'Local Emergency Phone: Ambulance: 15; "
        "Fire: 15; Police: 19', "
        "https://cia.gov/the-world-factbook/about/archives/2023/countries/morocco/travel-facts "
        "(read 2026-12-06)"
    ),
    "Algeria 14 (Protection civile) and 17 (police)": (
        "U.S. Department of State country information for Algeria, 'The local equivalents "
        "to the 911 emergency line in Algeria are: Fire: dial 14 ...; Police: dial 17', as "
        "reproduced at https://thevisaexperts.com/africa/algeria/safety-and-security "
        "(read 2026-12-06; the travel.state.gov original was not reachable from here); "
        "corroborated by Maghreb Emergent, https://www.maghrebemergent.com/"
        "algerie-les-4-numeros-durgence-indispensables-pour-un-voyage-sans-tracas/ "
        "(Protection civile 14 and 1021, police 17 and 1548)"
    ),
}

#: services named but not numbered, and why
UNVERIFIED_NOTES = (
    (
        "Morocco's Gendarmerie Royale (rural areas) is given as 177 only by the press "
        "(challenge.ma, 2022-08); no official page was found, so the answer does not print it."
    ),
    (
        "Algeria's 1548 is the Surete nationale's (police) green line and 1055 the Gendarmerie "
        "nationale's, per Maghreb Emergent (press); not printed for the same reason."
    ),
    (
        "Neither country has a national suicide-prevention line that we could verify; the "
        "answer therefore points to emergency services and a trusted person."
    ),
)

#: who wrote the answer and who must still review it; shown in the model card
REVIEW_STATUS = (
    "Written by the project's engineers to urge immediate contact with emergency services and "
    "a trusted person; it has not yet been reviewed by a licensed Darija-speaking "
    "mental-health professional, which must happen before real users see it."
)

_CRISIS_LINES = (
    "كنسمعك، وداكشي اللي كتحس بيه مهم بزاف. ماشي بوحدك.",
    (
        "إلا كنتي ف خطر دابا ولا كتفكر تأذي راسك، عيّط دابا على الإسعاف: 15 ف المغرب، 14 ف الجزائر،"
        " ولا على البوليس: 19 ف المغرب، 17 ف الجزائر."
    ),
    "وهضر دابا مع شي حد كتيق فيه: واحد من العائلة، صاحب ولا صاحبة، ولا طبيب.",
    "أنا غير برنامج، ماشي طبيب نفساني مرخّص، وما نقدرش نعاونك ف حالة الخطر.",
    "",
    (
        "FR : Si vous êtes en danger ou pensez à vous faire du mal, appelez maintenant le 15"
        " (Maroc) / 14 (Algérie) ou la police, 19 (Maroc) / 17 (Algérie), et parlez à une"
        " personne de confiance. Je ne suis pas un thérapeute agréé."
    ),
    (
        "EN: If you are in danger or thinking of hurting yourself, call 15 (Morocco) / 14"
        " (Algeria) or the police, 19 (Morocco) / 17 (Algeria), now, and talk to someone you"
        " trust. I am not a licensed therapist."
    ),
)
CRISIS_ANSWER = "\n".join(_CRISIS_LINES)

#: the guidance a served model gets in its system prompt (Modelfile, model card)
SYSTEM_GUIDANCE = (
    "نتا مساعد كيهضر بالدارجة المغربية وكيسمع للناس بحنان. نتا ماشي طبيب نفساني مرخّص، وقولها"
    " إلا تسوّلتي. إلا شي حد هضر على الانتحار، ولا بغا يأذي راسو، ولا كيتعرّض للعنف، قول ليه"
    " يعيّط دابا على الإسعاف (15 ف المغرب، 14 ف الجزائر) ولا البوليس (19 ف المغرب، 17 ف"
    " الجزائر) ويهضر مع شي حد كيتيق فيه."
)

# ---------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------

_REPEATS = re.compile(r"(\w)\1+")
_ARABIZI_DIGITS = {"7": "h", "9": "q", "5": "kh", "8": "gh", "2": "", "3": ""}
_DIGIT_IN_WORD = re.compile(r"(?<=[a-z])[235789]|[235789](?=[a-z])")
_VOWELS = re.compile(r"[aeiou]")
_NOT_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", _REPEATS.sub(r"\1", text)).strip()


def arabic_view(text: str) -> str:
    """``text`` with Arabic letters folded (harakat, tatweel, alef/hamza/teh marbuta/alef
    maqsura variants) and stretched letters collapsed; punctuation becomes space."""
    from pyarabic import araby

    text = unicodedata.normalize("NFKC", text)
    text = araby.strip_tatweel(araby.strip_tashkeel(text))
    # alef maqsura first: PyArabic's hamza folding would otherwise read it as an alef
    text = text.replace("ة", "ه").replace("ى", "ي")
    text = araby.normalize_hamza(araby.normalize_alef(text), method="tasheel")
    return _collapse(_NOT_WORD.sub(" ", text))


def latin_view(text: str) -> str:
    """``text`` lower-cased without accents, punctuation as space, repeated letters collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = plain.replace("'", " ").replace("’", " ")
    return _collapse(_NOT_WORD.sub(" ", plain))


def arabizi_view(text: str) -> str:
    """The consonant skeleton of Darija written in Latin letters: chat digits read as
    letters, vowels dropped, repeats collapsed (``"bghiiit n9tel rassi"`` -> ``"bght nqtl rs"``)."""
    view = _DIGIT_IN_WORD.sub(lambda m: _ARABIZI_DIGITS[m.group()], latin_view(text))
    return _collapse(_VOWELS.sub("", view.replace("ou", "u")))


# ---------------------------------------------------------------------------------------
# The maintained lists
# ---------------------------------------------------------------------------------------
# Each list is (category, pattern). Arabic and Latin patterns are written in natural
# spelling and pass through the same view as the messages; Arabizi patterns are
# written directly as skeletons (consonants only, as ``arabizi_view`` leaves them).

SUICIDE, SELF_HARM, ABUSE, HOPELESSNESS = "suicide", "self_harm", "abuse", "hopelessness"

_AR_WANT = r"(?:بغيت|بغا|بغات|باغي|باغيه|كنبغي|نبغي|حاب|حابه|حابة|راني حاب|غادي|غادية|غا|اريد|اود|ساقوم|سوف|بدي|نحب)"
_AR_SELF = r"(?:راسي|نفسي|روحي|حياتي)"

ARABIC_PATTERNS: tuple[tuple[str, str], ...] = (
    (SUICIDE, _AR_WANT + r" (?:ان )?(?:ن|ا)?موت"),
    (SUICIDE, r"(?:اريد|اتمني|نتمني|كنتمني|تمنيت|بغيت|ارغب في|اود) الموت"),
    (SUICIDE, r"(?:اتمني|نتمني|كنتمني|تمنيت) (?:لو|كون) (?:ن|ا)?موت"),
    (SUICIDE, r"(?:ا|ن|سا|س)?نهي (?:حياتي|حياتو|عمري)"),
    (
        SUICIDE,
        r"(?:ن|ا|س|سا)?(?:قتل|نقتل|اقتل|نذبح|اذبح|نشنق|اشنق|نحرق|احرق|نرمي|ارمي|نلوح|نسم) "
        + _AR_SELF,
    ),
    (SUICIDE, r"(?:ن|ا|س|سا)?نتحر|انتحار|الانتحار|انتحاري"),
    (
        SUICIDE,
        r"(?:ما ?باقيش|ما ?بقيتش|مابقاش|ماعادش|لم اعد|لا) ?(?:بغيت|باغي|باغيه|حاب|اريد|ابغي|نبغي) ?(?:ن|ا|ان |ان ا)?عيش",
    ),
    (SUICIDE, r"ما ?(?:بغيتش|باغيش|حابش|نبغيش) ?(?:ن|ن ?)عيش"),
    (
        SUICIDE,
        r"(?:لا اريد|لا ارغب ?في|ما بقاتش عندي رغبه ?في|ماعنديش رغبه ?في) (?:ان اعيش|العيش|الحياه)",
    ),
    (SUICIDE, r"(?:نحط|نضع|اضع|ندير) (?:حد|نهايه) ل ?" + _AR_SELF),
    (SUICIDE, r"(?:الموت|نموت) (?:احسن|خير) (?:ليا|لي|من)"),
    (SUICIDE, r"(?:نشرب|نكمل|ناكل) (?:الدوا|الدواء|الحبوب|الكينه) (?:كامل|كاملين|كلو|كلها)"),
    (
        SELF_HARM,
        r"(?:ن|ا)?(?:جرح|نجرح|اجرح|قطع|نقطع|اقطع|ضرب|نضرب|اضرب|اذي|ناذي|نأذي|اؤذي) " + _AR_SELF,
    ),
    (SELF_HARM, r"(?:ن|ا)?(?:قطع|نقطع|اقطع) (?:عروقي|عروق|الشريان|يدي|يديا|ايدي)"),
    (SELF_HARM, r"(?:ايذاء|اذيه|تشويه) (?:النفس|نفسي|الذات)"),
    # "ضربني راسي" is a headache, not a blow: a body part or illness after the verb is no abuse
    (ABUSE, r"(?:ضربني|ضربوني|ضربتني|عنفني|عذبني)(?! (?:راسي|كرشي|ضرسي|قلبي|ظهري|البرد|الضو))"),
    (
        ABUSE,
        r"(?:اغتصبني|اغتصبوني|يغتصبني|تحرش بيا|تحرش بي|اعتدي علي|اعتدي عليا|اعتدا عليا|يعتدي علي)",
    ),
    (
        ABUSE,
        r"(?:اغتصاب|اغتصبت|تعرضت ل ?(?:الاغتصاب|التحرش|العنف|الاعتداء)|عنف اسري|العنف الاسري|كيتحرش بيا|كيغتاصبني)",
    ),
    (HOPELESSNESS, r"(?:عييت|تعبت|مليت|سئمت) من (?:الدنيا|الحياه|حياتي|كلشي|العيشه)"),
    # no reason left to live is ideation, not only hopelessness
    (
        SUICIDE,
        r"(?:ما ?بقا|ما ?بقاش|لم يعد) (?:عندي|لي) (?:علاش|سبب|معني) ?(?:ن|ا)?(?:عيش|للعيش|للحياه)",
    ),
)

LATIN_PATTERNS: tuple[tuple[str, str], ...] = (
    # English
    (
        SUICIDE,
        r"\b(?:kill|end|take|hang|shoot|drown|poison) (?:my ?self|myself|my (?:own )?life)\b",
    ),
    (SUICIDE, r"\b(?:overdose|od) on\b|\b(?:slit|slash|cut) my (?:wrists?|throat)\b"),
    (SUICIDE, r"\bending it all\b|\b(?:couper|tailler|ouvrir) les veines\b"),
    (SUICIDE, r"\bsu[iy]?c[iy]?d(?:e|al|ing|aire|er)?\b|\bsuicid\w*|\bsewer ?slide\b"),
    (SUICIDE, r"\b(?:kms|unalive (?:my ?self|myself|me))\b"),
    (SUICIDE, r"\b(?:want|wanna|going|gonna|wish|ready|need) (?:to )?(?:die|be dead)\b"),
    (
        SUICIDE,
        r"\b(?:better off dead|end it all|no reason to live|not worth living|don t want to (?:live|be alive|wake up))\b",
    ),
    (
        SELF_HARM,
        r"\b(?:hurt|cut|cutting|harm|harming|burn|burning) (?:my ?self|myself|my (?:wrists?|arms?))\b",
    ),
    (SELF_HARM, r"\bself[ -]?harm\w*|\bsel harm\w*"),
    (
        ABUSE,
        r"\b(?:he|she|they|my \w+) (?:hits|hit|beats|beat|rapes|raped|abuses|abused|touches|touched) me\b",
    ),
    (
        ABUSE,
        r"\b(?:i was|i am being|i m being|being) (?:raped|abused|beaten|molested)\b|\bsexual(?:ly)? abus\w*|\bdomestic violence\b",
    ),
    # French
    (SUICIDE, r"\b(?:me|m) (?:tuer|suicider|foutre en l air|pendre|jeter (?:sous|par))\b"),
    (
        SUICIDE,
        r"\b(?:envie|veux|voudrais|vais|prefere) (?:de )?(?:mourir|crever|disparaitre pour toujours)\b",
    ),
    (SUICIDE, r"\b(?:en finir(?: avec (?:la|ma) vie)?|mettre fin a (?:mes jours|ma vie))\b"),
    (SUICIDE, r"\b(?:plus (?:envie|le gout) de vivre|(?:ne )?veux plus vivre)\b"),
    (
        SELF_HARM,
        r"\b(?:me (?:faire|fais|fait) du mal|me (?:couper|coupe|scarifier|scarifie|bruler|brule|blesser|blesse)|automutil\w*|scarification)\b",
    ),
    (
        ABUSE,
        r"\b(?:il|elle|ils|mon \w+|ma \w+) (?:me (?:frappe|bat|battait|viole|violait|touche|tape)|m a (?:frappe|viole|battu|agresse))\b",
    ),
    (
        ABUSE,
        r"\b(?:j ai ete|je suis|j etais) (?:violee?|agressee?|battue?|abusee?)\b|\bviolence conjugale\b|\binceste\b",
    ),
    (
        HOPELESSNESS,
        r"\b(?:tired of (?:life|living|everything)|hate my life|can t go on|je n en peux plus|marre de (?:la|ma) vie)\b",
    ),
)

# Arabizi skeletons: "bghit"/"baghi"/"bgha" -> bght/bgh, "ghadi"/"gha" -> ghd/gh,
# "7ab"/"habba" -> hb, "nmout"/"nmot" -> nmt, "n9tel"/"nqtel" -> nqtl, "rasi" -> rs,
# "nefsi" -> nfs, "ro7i" -> rh, "n3ich" -> nch, "nentaher" -> nnthr.
_AZ_WANT = r"(?:bght|bgh|bgha|bghat|ghd|gh|ghdy|hb|hby|nbgh|rn hb|rn bgh|knbgh|kn ?bgh|bd|bdy)"
_AZ_SELF = r"(?:rs|rsy|nfs|nfsy|rh|rhy)"

ARABIZI_PATTERNS: tuple[tuple[str, str], ...] = (
    (SUICIDE, r"\b" + _AZ_WANT + r" (?:n|t|y)?mw?t\b"),
    (SUICIDE, r"\bbght (?:l)?mwt\b|\bbght lmt\b"),
    (SUICIDE, r"(?:qtl|dbh|chnq|khnq|hrq|sm) " + _AZ_SELF + r"\b"),
    (SUICIDE, r"\b(?:n|kn|ghn|gh n|ghd n)(?:rm|lh) " + _AZ_SELF + r"\b"),
    (SUICIDE, r"\bn?nthr\b|\bnthr\w*|\bntihr\w*"),
    (SUICIDE, r"\bm ?(?:bqt|bq|bqy|bq t)\w* (?:bght|bgh|hb|nbgh)\w* nch\b"),
    (SUICIDE, r"\bm ?(?:bght|bgh|hb|nbgh)\w*ch nch\b|\bm ?bghtch nch\b"),
    (SUICIDE, r"\b(?:lmt|lmwt|nmt) (?:hsn|khyr) (?:ly|mn)\b"),
    (SELF_HARM, r"\bn?(?:jrh|qt|drb|dy|ndy) " + _AZ_SELF + r"\b"),
    (SELF_HARM, r"\bn?qt (?:rq|rqy|yd|ydy|dry)\b"),
    (
        ABUSE,
        r"\b(?:k|t|r k|kn|d)?y?(?:drbn|drbny|nfn|nfny|ghtsbn|ghtsbny)\b(?! (?:rs|krch|drs|qlb))",
    ),
    (ABUSE, r"(?:thrch|thrsh) by\b|\bghtsb\w*"),
    (HOPELESSNESS, r"\b(?:yt|tbt|mlt) mn (?:dny|lhy|lhyt|hyt|hyty|klch|lch)\b"),
)


@cache
def _compiled() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    compiled = []
    for category, pattern in ARABIC_PATTERNS:
        compiled.append(("arabic", category, re.compile(_fold_pattern(pattern, arabic_view))))
    for category, pattern in LATIN_PATTERNS:
        compiled.append(("latin", category, re.compile(_fold_pattern(pattern, latin_view))))
    for category, pattern in ARABIZI_PATTERNS:
        compiled.append(("arabizi", category, re.compile(pattern)))
    return tuple(compiled)


_PATTERN_WORD = re.compile(r"[^\W\d_]{2,}")


def _fold_pattern(pattern: str, view: Callable[[str], str]) -> str:
    """The pattern with its literal words folded by ``view`` (so "kill" becomes "kil"
    like the messages it meets), regex syntax untouched."""
    # Only the letters outside escapes are words: "\b" and "\w" start with a backslash.
    return re.sub(
        r"(?<!\\)" + _PATTERN_WORD.pattern,
        lambda m: view(m.group()) or m.group(),
        pattern,
    )


# ---------------------------------------------------------------------------------------
# The guard
# ---------------------------------------------------------------------------------------

#: emotion-classifier labels that turn a hopelessness match into a crisis
ESCALATING_EMOTIONS = frozenset({"Sadness", "Fear"})
#: the classifier confidence (0..1) needed to escalate
ESCALATION_MIN_CONFIDENCE = 0.6

#: ``(label, confidence)`` of a message, e.g. a trained emotion_classifier student
EmotionHook = Callable[[str], tuple[str, float]]


@dataclass(frozen=True)
class Verdict:
    """What the guard found in one message."""

    crisis: bool
    #: the categories matched (suicide, self_harm, abuse, hopelessness), in list order
    categories: tuple[str, ...]
    #: which normalised view matched first ("arabic", "latin", "arabizi"), or "" for none
    view: str = ""
    #: the emotion classifier's reading, when one was asked
    emotion: tuple[str, float] | None = None

    @property
    def answer(self) -> str | None:
        """The fixed crisis answer, or None when the model may answer."""
        return CRISIS_ANSWER if self.crisis else None


def matches(text: str) -> list[tuple[str, str]]:
    """Every (view, category) whose pattern matches ``text``."""
    views = {"arabic": arabic_view(text), "latin": latin_view(text)}
    views["arabizi"] = arabizi_view(text)
    return [
        (view, category) for view, category, pattern in _compiled() if pattern.search(views[view])
    ]


class CrisisGuard:
    """Decides, before any model is asked, whether a message gets the crisis answer.

    ``emotion_hook`` is optional: it only decides the hopelessness tier (see the
    module docstring); the explicit suicide, self-harm and abuse patterns never
    depend on it.
    """

    def __init__(self, emotion_hook: EmotionHook | None = None):
        self.emotion_hook = emotion_hook

    def check(self, text: str) -> Verdict:
        found = matches(text)
        categories = tuple(dict.fromkeys(category for _, category in found))
        view = found[0][0] if found else ""
        explicit = any(c != HOPELESSNESS for c in categories)
        emotion = None
        crisis = explicit
        if not explicit and HOPELESSNESS in categories and self.emotion_hook is not None:
            emotion = self.emotion_hook(text)
            label, confidence = emotion
            crisis = label in ESCALATING_EMOTIONS and confidence >= ESCALATION_MIN_CONFIDENCE
        return Verdict(crisis=crisis, categories=categories, view=view, emotion=emotion)


def student_emotion_hook(directory: Path | str) -> EmotionHook | None:
    """An ``EmotionHook`` over the emotion_classifier student saved in ``directory``, or
    None when none has been trained there (the guard then works on patterns alone)."""
    from darija_assets.classifier.student import load_student

    try:
        student = load_student(directory)
    except FileNotFoundError:
        return None

    def hook(text: str) -> tuple[str, float]:
        prediction = student.predict([text])[0]
        return prediction.label, prediction.confidence

    return hook


def default_guard(layout=None) -> CrisisGuard:
    """The guard with the default student classifier when one is trained under the data
    directory (``layout``), patterns alone otherwise."""
    from darija_assets.classifier import DEFAULT_KIND
    from darija_assets.storage import Layout

    layout = layout or Layout()
    return CrisisGuard(student_emotion_hook(layout.artifact("emotion_classifier", DEFAULT_KIND)))


def false_positive_rate(guard: CrisisGuard, ordinary: Iterable[str]) -> float:
    """The share (0..1) of ``ordinary`` messages the guard would answer as a crisis."""
    texts = list(ordinary)
    if not texts:
        raise ValueError("no ordinary messages to measure the false-positive rate on")
    return sum(guard.check(t).crisis for t in texts) / len(texts)
