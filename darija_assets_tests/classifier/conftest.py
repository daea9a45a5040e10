"""Made-up labelled Darija, and teacher_labels tables built from it.

Each emotion has its own Darija cue words, set in shared frames (who, where,
when), so a character n-gram model can learn the labels and the tests can demand
a macro-F1 far above always-Neutral. Neutral is the largest class, as it is in real
teacher labels (58% of Atlas-Chat-9B's), so the majority baseline is not trivial.
The file is "imported" the way issue 11 describes: rows with backend ``imported``
and the file as model, beside lexicon rows that must never be learned from.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from darija_assets.partitions import EMOTIONS
from darija_assets.storage import Layout, write_parquet

CUES: dict[str, tuple[str, ...]] = {
    "Joy": (
        "فرحان بزاف",
        "فرحانة بزاف",
        "ضحكنا بزاف",
        "نشطنا مزيان",
        "الفرحة كبيرة",
        "هاني ومبسوط",
    ),
    "Love": (
        "كنبغيك بزاف",
        "توحشتك بزاف",
        "عشقتك من نهار شفتك",
        "حبيبي ديالي",
        "قلبي معاك",
        "مغرم بيك",
    ),
    "Surprise": (
        "ما توقعتش هادشي",
        "تصدمت ملي سمعت",
        "واش بصح هادشي",
        "عجيب هاد الشي",
        "مستغرب بزاف",
        "ما تيقتش عينيا",
    ),
    "Sadness": (
        "حزين بزاف",
        "بكيت الليل كامل",
        "ضاقت بيا الدنيا",
        "مكسور القلب",
        "حاس براسي بوحدي",
        "الدموع ف عينيا",
    ),
    "Anger": (
        "معصب بزاف",
        "طلع ليا الدم",
        "سخفني هاد الشي",
        "غضبان عليه",
        "عييت من الحكرة",
        "مقلق بزاف",
    ),
    "Fear": (
        "خايف بزاف",
        "خايفة من غدا",
        "تخلعت بزاف",
        "الخلعة كلاتني",
        "كنخاف من الظلام",
        "قلبي كيضرب بالخوف",
    ),
}
NEUTRAL_FACTS = (
    "مشيت للسوق وشريت الخضرة",
    "الطوبيس كيدوز مع الثمنية",
    "الماتش غادي يبدا مع العشرة",
    "كتبت الرسالة وصيفطتها",
    "الحانوت كيحل مع التسعود",
    "جبت الخبز من الفران",
    "القطار وصل للمحطة",
    "خدمت ف الجردة الصباح",
)
WHO = ("انا", "راني", "صاحبي", "ختي", "خويا", "الوالدة")
WHERE = ("ف الدار", "ف الخدمة", "ف الزنقة", "مع الدراري", "ف المدرسة", "ف الطريق")
WHEN = ("اليوم", "البارح", "هاد الصباح", "فاللخر", "دابا", "نهار السبت")
#: rows per label: Neutral the largest, as in real teacher labels
COUNTS = {
    "Neutral": 160,
    "Joy": 60,
    "Sadness": 60,
    "Anger": 50,
    "Fear": 50,
    "Love": 50,
    "Surprise": 40,
}


#: share of rows whose label is swapped for a random one, as a teacher's mistakes would be
LABEL_NOISE = 0.05


def made_up_rows(seed: int = 7) -> list[dict[str, str]]:
    """Distinct made-up sentences with their label (``COUNTS`` rows per label, about
    ``LABEL_NOISE`` of them relabelled at random)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for label, n in COUNTS.items():
        made = 0
        while made < n:
            core = rng.choice(NEUTRAL_FACTS) if label == "Neutral" else rng.choice(CUES[label])
            text = f"{rng.choice(WHO)} {core} {rng.choice(WHERE)} {rng.choice(WHEN)}"
            if text not in seen:
                seen.add(text)
                noisy = rng.random() < LABEL_NOISE
                rows.append({"text": text, "label": rng.choice(EMOTIONS) if noisy else label})
                made += 1
    rng.shuffle(rows)
    return rows


def write_labelled_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def imported_labels(path: Path, source: str) -> pl.DataFrame:
    """teacher_labels rows for a labelled JSONL file, as an import writes them."""
    frame = pl.read_ndjson(path)
    return frame.select(
        pl.format("{}-{}", pl.lit(source), pl.int_range(pl.len())).alias("sentence_id"),
        pl.col("text").alias("sentence"),
        pl.lit(str(path)).alias("url"),
        pl.lit(source).alias("source"),
        pl.col("label"),
        pl.lit("imported").alias("backend"),
        pl.lit(path.name).alias("model"),
    )


def lexicon_labels(texts: list[str], source: str) -> pl.DataFrame:
    """Rows as the offline lexicon writes them: all Neutral, backend ``offline``."""
    return pl.DataFrame(
        {
            "sentence_id": [f"{source}-lex-{i}" for i in range(len(texts))],
            "sentence": texts,
            "url": ["http://127.0.0.1/"] * len(texts),
            "source": [source] * len(texts),
            "label": ["Neutral"] * len(texts),
            "backend": ["offline"] * len(texts),
            "model": ["darija-lexicon"] * len(texts),
        }
    )


@pytest.fixture(scope="session")
def labelled_file(tmp_path_factory) -> Path:
    return write_labelled_jsonl(tmp_path_factory.mktemp("import") / "labels.jsonl", made_up_rows())


@pytest.fixture(scope="session")
def labels_frame(labelled_file) -> pl.DataFrame:
    """Imported rows plus lexicon rows for sentences of another source."""
    lexicon = lexicon_labels([f"جملة عادية رقم {i} ف الدار" for i in range(40)], "sample")
    return pl.concat([imported_labels(labelled_file, "imported_file"), lexicon], how="diagonal")


def write_teacher_labels(layout: Layout, frames: dict[str, pl.DataFrame]) -> None:
    """teacher_labels partitions where the asset reads them."""
    for source, frame in frames.items():
        write_parquet(frame, layout.table("teacher_labels", source))


assert set(COUNTS) == set(EMOTIONS)


#: new sentences, in frames the made-up file never uses, that name one emotion plainly
FRESH_SENTENCES = {
    "Joy": "الدراري فرحانين بزاف بالعيد",
    "Love": "كنبغيك بزاف يا حياتي",
    "Surprise": "ما توقعتش هادشي منك ابدا",
    "Sadness": "حزين بزاف على داكشي لي وقع",
    "Anger": "معصب بزاف على هاد الحكرة",
    "Fear": "خايفة بزاف من الامتحان",
    "Neutral": "مشيت للسوق وشريت الحليب",
}


@pytest.fixture(scope="session")
def linear_report(labels_frame, tmp_path_factory):
    """The linear student trained once on the made-up labels (it takes seconds)."""
    from darija_assets.classifier.train import train_classifier

    return train_classifier(labels_frame, tmp_path_factory.mktemp("student") / "linear")
