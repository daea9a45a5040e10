"""Made-up conversation files shared by the conversation tests (invented people and text)."""

from __future__ import annotations

import json
from pathlib import Path

from darija_assets_tests import REPO_ROOT

#: A WhatsApp (Android, day-first) export where Karim (the target, speaker_2) answers.
#: Lines 8-9 reply about the car, like line 2, while the turns just before them are about
#: the weather, lunch and a wedding: retrieval must pick line 2, a window the recent lines.
#: Written in Arabizi: the bundled MiniLM reads Latin script (see conversations/embed.py).
CHAT_LINES = [
    "13/03/2026, 09:00 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them.",
    "13/03/2026, 09:01 - Sara Benali: chrit tomobil jdida lbarah, tomobil zwina bzaf",
    "13/03/2026, 09:02 - Karim: mabrouk 3lik",
    "13/03/2026, 09:03 - Sara Benali: ljaw s5oun bzaf lyoum",
    "13/03/2026, 09:04 - Youssef: fin ghadi ntghdaw?",
    "13/03/2026, 09:05 - Sara Benali: chkoun ja l3ers dyal khalti?",
    "13/03/2026, 09:06 - Youssef: wach sm3ti lkhbar?",
    "13/03/2026, 09:07 - Karim: ch7al khlsti f tomobil jdida?",
    "13/03/2026, 09:08 - Karim: wach tomobil k7la wla bida?",
]
#: the line numbers of CHAT_LINES (1-based) by role in the retrieval case
CAR_LINE, OWN_LINE, ANSWERED_LINE, REPLY_LINES = 2, 3, 7, (8, 9)
RECENT_OFF_TOPIC_LINES = (4, 5, 6)

#: a session with custom field names and a counsellor called "Dr. Amina"
SESSION_TURNS = [
    ("patient", "كنحس براسي بوحدي بزاف هاد الأيام"),
    ("Dr. Amina", "فهمتك، من إمتى بدا هاد الإحساس؟"),
    ("patient", "من نهار بدلت المدينة ديال الخدمة"),
    ("Dr. Amina", "التبديل صعيب. واش عندك شي حد تهضر معاه تما؟"),
    ("patient", "لا، حتى واحد"),
    ("Dr. Amina", "نقدرو نقلبو مع بعض على بلايص فين تتعرف على ناس جداد."),
]


def write_chat(folder: Path) -> Path:
    path = folder / "WhatsApp Chat with Sara Benali.txt"
    path.write_text("\n".join(CHAT_LINES) + "\n", encoding="utf-8")
    return path


def write_sessions(folder: Path, exchanges: int = 12) -> Path:
    """JSONL: session "long" of ``exchanges`` numbered exchanges, session "amina" with custom
    fields, and a broken line (quarantined)."""
    long_turns = []
    for i in range(exchanges):
        long_turns.append({"who": "client", "msg": f"سؤال رقم {i} على النعاس"})
        long_turns.append({"who": "therapist", "msg": f"جواب رقم {i} على النعاس"})
    amina = [{"who": who, "msg": text} for who, text in SESSION_TURNS]
    lines = [
        json.dumps({"sid": "long", "turns": long_turns}, ensure_ascii=False),
        "{not json",
        json.dumps({"sid": "amina", "turns": amina}, ensure_ascii=False),
    ]
    path = folder / "sessions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


#: the conversations options the session file needs (its field names are not the usual ones)
SESSION_OPTIONS = {
    "dialogue_field": "turns",
    "speaker_field": "who",
    "text_field": "msg",
    "id_field": "sid",
    "assistant_speakers": ["therapist", "Dr. Amina"],
}


def graph_folder(folder: Path, chat_options: dict, exchanges: int) -> tuple[Path, Path]:
    """A made-up chat and session file declared as the sources ``wa`` and ``sessions``
    (``folder/sources.json``), beside a Dagster home with the project's dagster.yaml and a
    data folder; returns ``(home, data)``."""
    home = folder / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    write_chat(folder)
    write_sessions(folder, exchanges=exchanges)
    sources = [
        {"name": "wa", "kind": "file", "path": "WhatsApp Chat with Sara Benali.txt",
         "conversations": chat_options},
        {"name": "sessions", "kind": "file", "path": "sessions.jsonl", "format": "sessions",
         "conversations": SESSION_OPTIONS},
    ]  # fmt: skip
    (folder / "sources.json").write_text(json.dumps(sources), encoding="utf-8")
    return home, folder / "data"
