"""Scripted teachers for the stub server, and labelled sentences to feed them.

The stub server answers with whatever a responder returns; these responders play
a well-behaved therapist and translator (answering every item of a request in the
JSON the tasks ask for), with hooks to misbehave on chosen items. Shared by the
therapy tests, the pairs/translation task tests and the benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import polars as pl

from darija_assets.llm.templates import therapy_template

#: test-only API key; the stub only checks that one was sent
FAKE_KEY = "test-key-not-a-secret"

#: Darija sentences per emotion, written for the tests (a few per emotion, varied)
SENTENCES: dict[str, tuple[str, ...]] = {
    "Sadness": (
        "حاس براسي بوحدي بزاف هاد الأيام",
        "ما بقيتش قادر نفرح بحتى شي حاجة",
        "مشات عليا الوالدة وخلات فيا فراغ كبير",
    ),
    "Fear": (
        "خايف من الامتحان ديال غدا بزاف",
        "كنخاف نبقى بلا خدمة",
        "قلبي كيضرب ملي كنخرج بوحدي فالليل",
    ),
    "Anger": (
        "عصبني صاحبي حيت كذب عليا",
        "مقلق من الخدمة والمدير ديما كيغوت",
        "ظلموني فالدار وما سمعوش ليا",
    ),
    "Love": ("كنبغيها بزاف ولكن ما عارفاش", "توحشتو بزاف من نهار سافر", "قلبي مشغول غير بيها"),
    "Surprise": (
        "ما كنتش متوقع يجيو كاملين للعرس",
        "تصدمت ملي عرفت الخبر",
        "فاجأني بهدية فعيد ميلادي",
    ),
    "Joy": (
        "نجحت فالباك وفرحت بزاف",
        "اليوم دوزت نهار زوين مع العائلة",
        "لقيت خدمة جديدة الحمد لله",
    ),
    "Neutral": ("مشيت للسوق وشريت الخضرة", "الجو اليوم عادي", "قريت الكتاب اللي عطاني صاحبي"),
}


def labelled_sentences(
    counts: dict[str, int], sources: tuple[str, ...] = ("sample", "9esa")
) -> pl.DataFrame:
    """teacher_labels rows: ``counts[emotion]`` distinct sentences per emotion, spread
    over ``sources``. Sentence ids are made up but unique and stable."""
    rows = []
    for emotion, n in counts.items():
        base = SENTENCES[emotion]
        for i in range(n):
            source = sources[i % len(sources)]
            rows.append(
                {
                    "sentence_id": f"{emotion[:3].lower()}{i:05d}",
                    "sentence": f"{base[i % len(base)]} ({i})",
                    "url": f"http://127.0.0.1/{source}/{emotion.lower()}/{i}",
                    "source": source,
                    "label": emotion,
                    "backend": "offline",
                }
            )
    return pl.DataFrame(rows)


def therapist_answer(item: dict) -> str:
    """A valid reply for one request item, different from the offline template."""
    return "أنا معاك ومفهوم داكشي اللي كتحس بيه. " + therapy_template(
        item["emotion"], item["style"], item["id"]
    )


def therapist(bad: dict[str, str] | None = None) -> Callable:
    """A responder answering every item; ``bad`` maps item id -> the reply to give instead."""
    bad = bad or {}

    def respond(request) -> str:
        answers = [
            {"id": it["id"], "response": bad.get(it["id"], therapist_answer(it))}
            for it in request.items()
        ]
        return json.dumps({"answers": answers}, ensure_ascii=False)

    return respond


def translator(decorate: Callable[[str, str], str] | None = None) -> Callable:
    """A responder translating every item to a fixed English text that names its id.

    ``decorate(id, english)`` may rewrite a field (add a preamble, return Arabic...).
    """
    decorate = decorate or (lambda _id, text: text)

    def respond(request) -> str:
        out = [
            {
                "id": it["id"],
                "input_en": decorate(it["id"], f"The patient says something, item {it['id']}."),
                "output_en": decorate(it["id"], "I understand you, and what you feel makes sense."),
            }
            for it in request.items()
        ]
        return json.dumps({"translations": out}, ensure_ascii=False)

    return respond
