"""The crisis guard in front of `darija-assets chat` (darija_assets/training/chat.py)."""

from __future__ import annotations

from darija_assets.serving.crisis import CRISIS_ANSWER
from darija_assets.training import chat
from darija_assets_tests.serving.conftest import PATIENT_TEXT, TRAINED_ANSWER


def test_chat_cli_answers_crisis_with_the_fixed_answer_and_others_with_the_model(
    tiny_base, trained_adapter, capsys, monkeypatch, tmp_path
):
    monkeypatch.setenv("DARIJA_DATA_DIR", str(tmp_path))  # no classifier trained there
    argv = ["--base", str(tiny_base), "--adapter", str(trained_adapter)]
    assert chat.main(argv + ["--message", "ghadi n9tel rassi"]) == 0
    assert capsys.readouterr().out.strip() == CRISIS_ANSWER.strip()
    assert chat.main(argv + ["--message", PATIENT_TEXT, "--max-new-tokens", "40"]) == 0
    answer = capsys.readouterr().out.strip()
    assert answer != CRISIS_ANSWER.strip() and answer.startswith(TRAINED_ANSWER[:10])


def test_serve_without_an_adapter_says_what_to_materialize(tmp_path, monkeypatch, capsys):
    from darija_assets import cli

    monkeypatch.setenv("DARIJA_DATA_DIR", str(tmp_path))
    assert cli.main(["serve", "--model", "tiny", "--port", "0"]) == 1
    assert "materialize lora_adapter first" in capsys.readouterr().err
