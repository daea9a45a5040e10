"""The labels task on its own: prompt contents, answer parsing and validation."""

from __future__ import annotations

import json

import pytest

from darija_assets.llm.base import (
    Accepted,
    MalformedAnswer,
    Rejected,
    WorkItem,
    task_fingerprint,
)
from darija_assets.llm.tasks.labels import GEMINI_PASS_LABELS, LabelTask

ITEMS = [WorkItem(key="aaa", text="فرحان"), WorkItem(key="bbb", text="خايف")]


def test_prompt_carries_guidance_ids_and_the_sentences_as_json():
    prompt = LabelTask().build_prompt(ITEMS)
    assert "Physical pleasure, fun, laughter, happiness: Joy." in prompt.system
    assert "Neutral only when the sentence is purely factual" in prompt.system
    assert json.loads(prompt.user.split("\n", 1)[1]) == [
        {"id": "1", "text": "فرحان"},
        {"id": "2", "text": "خايف"},
    ]
    assert prompt.response_schema["required"] == ["labels"]


def test_guidance_follows_the_configured_label_set():
    task = LabelTask(labels=GEMINI_PASS_LABELS)
    system = task.build_prompt(ITEMS).system
    assert "JOY, SADNESS, ANGER, FEAR, DISGUST, SURPRISE, NEUTRAL" in system
    assert "Romance" not in system  # no Love label to send it to
    assert "NEUTRAL only when" in system
    assert task_fingerprint(task, ITEMS[0]) != task_fingerprint(LabelTask(), ITEMS[0])


def test_parse_accepts_object_bare_array_and_code_fence():
    task = LabelTask()
    expected = {"aaa": Accepted({"label": "Joy"}), "bbb": Accepted({"label": "Fear"})}
    answer = [{"id": "1", "label": "Joy"}, {"id": "2", "label": "Fear"}]
    assert task.parse(json.dumps({"labels": answer}), ITEMS) == expected
    assert task.parse(json.dumps(answer), ITEMS) == expected
    assert task.parse("```json\n" + json.dumps(answer) + "\n```", ITEMS) == expected


def test_parse_judges_each_entry():
    task = LabelTask()
    answer = {
        "labels": [
            {"id": "1", "label": "JOY"},
            {"id": "2", "label": "Fear"},
            {"id": "2", "label": "Anger"},
            {"id": "3", "label": "Love"},  # never asked
            "not an object",
        ]
    }
    assert task.parse(json.dumps(answer), ITEMS) == {
        "aaa": Accepted({"label": "Joy"}, raw="JOY"),
        "bbb": Rejected("the answer gave this id two different labels", raw='["Fear", "Anger"]'),
    }
    assert task.judge_label(None) == Rejected("label None is not a string", raw="null")
    assert task.judge_label("Neutral ") == Accepted({"label": "Neutral"}, raw="Neutral ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "answer is not valid JSON: it holds no JSON object or array"),
        ('{"answers": []}', 'answer JSON has no "labels" array'),
    ],
)
def test_malformed_answers_raise_with_a_reason(text, reason):
    with pytest.raises(MalformedAnswer) as err:
        LabelTask().parse(text, ITEMS)
    assert str(err.value) == reason


def test_label_sets_must_be_distinct():
    with pytest.raises(ValueError, match="distinct"):
        LabelTask(labels=("Joy", "joy"))


def test_offline_maps_to_the_configured_set():
    task = LabelTask(labels=GEMINI_PASS_LABELS)
    assert task.offline(WorkItem(key="x", text="خايف")) == Accepted({"label": "FEAR"})
    assert task.offline(WorkItem(key="x", text="كنبغيك")) == Accepted({"label": "NEUTRAL"})
    no_neutral = LabelTask(labels=("Joy", "Fear"))
    assert no_neutral.offline(WorkItem(key="x", text="مشيت")) == Rejected(
        "the lexicon found no cue for any label of this set, and the set has no Neutral"
    )
