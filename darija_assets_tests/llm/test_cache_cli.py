"""`darija-assets cache`: what the answer cache holds, and dropping one slice of it
(a dry run first), so it never needs deleting by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from darija_assets.cli import main
from darija_assets.llm.base import MALFORMED, Rejected
from darija_assets.llm.cache import AnswerCache, cache_path
from darija_assets.storage import Layout

from .test_cache import _answer


def _fill(path: Path) -> None:
    with AnswerCache(path) as cache:
        cache.put_many([_answer(f"l{i}") for i in range(5)])
        cache.put_many(
            [_answer(f"bad{i}", Rejected("not JSON", cause=MALFORMED)) for i in range(2)]
        )
        cache.put_many([_answer("content", Rejected("label 'Bored' is not one of Joy"))])
        cache.put_many(
            [
                replace(_answer(f"p{i}"), task="pairs", backend="gemini", prompt_version="pairs-v2")
                for i in range(3)
            ]
        )


def _show(path: Path, capsys, *extra: str) -> dict:
    assert main(["cache", "--cache", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_counts_by_every_column_and_what_the_next_run_asks_again(tmp_path, capsys):
    path = tmp_path / "answers.sqlite"
    _fill(path)
    shown = _show(path, capsys)
    assert shown["answers"] == 11 and shown["asked_again_next_run"] == 2
    assert shown["claims"] == []
    groups = {
        (g["task"], g["backend"], g["prompt_version"], g["status"], g["cause"]): g["answers"]
        for g in shown["groups"]
    }
    assert groups == {
        ("labels", "groq", "v1", "accepted", None): 5,
        ("labels", "groq", "v1", "rejected", "malformed"): 2,
        ("labels", "groq", "v1", "rejected", "content"): 1,
        ("pairs", "gemini", "pairs-v2", "accepted", None): 3,
    }
    assert [
        (g["backend"], g["answers"]) for g in _show(path, capsys, "--by", "backend")["groups"]
    ] == [("groq", 8), ("gemini", 3)]

    assert main(["cache", "--cache", str(path), "--task", "labels"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].endswith("answers.sqlite: 8 answers")
    assert table[1].split() == [
        "task",
        "backend",
        "model",
        "prompt_version",
        "status",
        "cause",
        "answers",
    ]
    assert table[2].split() == ["labels", "groq", "m", "v1", "accepted", "-", "5"]
    assert table[-1].startswith(
        "2 rejections (malformed, transport, unknown cause) are asked again"
    )


def test_drop_is_a_dry_run_until_confirmed(tmp_path, capsys):
    path = tmp_path / "answers.sqlite"
    _fill(path)
    assert main(["cache", "drop", "--cache", str(path), "--prompt-version", "pairs-v2"]) == 0
    assert "would drop 3 answers (prompt_version=pairs-v2)" in capsys.readouterr().out
    assert _show(path, capsys)["answers"] == 11  # nothing dropped yet

    assert main(["cache", "drop", "--cache", str(path), "--backend", "gemini", "--yes"]) == 0
    assert "dropped 3 answers (backend=gemini)" in capsys.readouterr().out
    assert (
        main(
            [
                "cache",
                "drop",
                "--cache",
                str(path),
                "--task",
                "labels",
                "--status",
                "rejected",
                "--yes",
            ]
        )
        == 0
    )
    assert "dropped 3 answers" in capsys.readouterr().out
    assert [(g["task"], g["status"], g["answers"]) for g in _show(path, capsys)["groups"]] == [
        ("labels", "accepted", 5)
    ]


def test_drop_needs_a_task_backend_or_prompt_version(tmp_path, capsys):
    path = tmp_path / "answers.sqlite"
    _fill(path)
    assert main(["cache", "drop", "--cache", str(path), "--status", "rejected", "--yes"]) == 1
    assert "drop needs --task, --backend or --prompt-version" in capsys.readouterr().err
    assert _show(path, capsys)["answers"] == 11


def test_the_installed_command_reads_the_data_directory_cache(tmp_path):
    env = {**os.environ, "DARIJA_DATA_DIR": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "darija-assets"), "cache"]
    missing = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert missing.returncode == 1 and "no answer cache at" in missing.stderr

    _fill(cache_path(Layout(tmp_path)))
    shown = subprocess.run(
        [*command, "show", "--by", "task,status", "--json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert {(g["task"], g["status"]): g["answers"] for g in json.loads(shown.stdout)["groups"]} == {
        ("labels", "accepted"): 5,
        ("labels", "rejected"): 3,
        ("pairs", "accepted"): 3,
    }
