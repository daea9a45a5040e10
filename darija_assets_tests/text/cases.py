"""Where the real-world cases live (../shared/cases beside the repository) and how to read
their JSONL inputs."""

from __future__ import annotations

import json
from pathlib import Path

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases"
if not CASES.is_dir():  # a checkout elsewhere: the workspace's shared folder
    CASES = Path("/work/shared/cases")


def case_rows(case_file: str) -> list[dict]:
    """The records of a case's JSONL file, e.g. ``"10_ar_presentation_forms/doc.jsonl"``."""
    lines = (CASES / case_file).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


#: case 20's expected (sentence, speaker) pairs, in order: the spoken lines with their
#: speaker, narration with none (20_dialogue_speaker_labels/README.md)
CASE_20_SENTENCES = [
    ("كانت الدنيا كتشتي بزاف فداك النهار.", None),
    ("واش نتي لاباس؟", "سلمى"),
    ("الحمد لله، غير شوية العيا.", "مريم"),
    ("علاش؟", "سلمى"),
    ("شنو وقع؟", "سلمى"),
    ("ماقدرتش نعس البارح، كنت خايفة من الامتحان.", "مريم"),
    ("خرجات سلمى للزنقة وهي كتفكر.", None),
    ("فين غادية فهاد الساعة؟", "يوسف"),
    ("غادية نشري الخبز ونرجع.", "سلمى"),
]
