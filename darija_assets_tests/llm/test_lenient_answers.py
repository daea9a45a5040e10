"""Case 15 (shared/cases/15_llm_json_fences_prose): teacher answers wrapped in prose and
Markdown fences, with trailing commas, or a bare array, as models really write them.

Why: every such answer used to cost 5 requests per batch and ended quarantined, and
local models (no JSON mode) answer like this most of the time. Each quirk of the case
is a test here; garbage still goes to quarantine with its raw answer; and the cache key
follows what the task sends, so a changed wording or parser is a new question.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darija_assets.llm.backends import make_backend
from darija_assets.llm.base import Accepted, MalformedAnswer, WorkItem, cache_key
from darija_assets.llm.runner import run_task
from darija_assets.llm.stub_server import StubServer
from darija_assets.llm.tasks import labels as labels_module
from darija_assets.llm.tasks import text_checks
from darija_assets.llm.tasks.labels import LabelTask
from darija_assets.llm.tasks.pairs import TherapyPairTask
from darija_assets.llm.tasks.translate import TranslationTask

from .conftest import FAKE_KEY

CASE = Path("/work/shared/cases/15_llm_json_fences_prose")
ITEMS = [WorkItem(key="s1", text="راني حزين بزاف"), WorkItem(key="s2", text="فرحت بزاف اليوم")]
EXPECTED = {"s1": Accepted({"label": "Sadness"}), "s2": Accepted({"label": "Joy"})}
LABELS_JSON = '{"labels": [{"id": "1", "label": "Sadness"}, {"id": "2", "label": "Joy"}]}'

#: the six answers of the case (answers.json), kept here so the test runs without the case dir
CASE_ANSWERS = {
    "a_fenced_json": f"```json\n{LABELS_JSON}\n```",
    "b_prose_then_fence": f"Here are the labels you asked for:\n```json\n{LABELS_JSON}\n```",
    "c_fence_then_prose": f"```json\n{LABELS_JSON}\n```\nLet me know if you need anything else.",
    "d_trailing_comma": LABELS_JSON.replace('"Joy"}]}', '"Joy"},]}'),
    "e_fence_no_newline": f"```json{LABELS_JSON}```",
    "f_bare_array_fenced": '```\n[{"id": "1", "label": "Sadness"}, {"id": "2", "label": "Joy"}]\n```',
}


def test_the_case_file_holds_exactly_these_answers():
    path = CASE / "answers.json"
    if not path.exists():
        pytest.skip("the shared cases directory is not on this machine")
    assert json.loads(path.read_text(encoding="utf-8")) == CASE_ANSWERS


@pytest.mark.parametrize("name", sorted(CASE_ANSWERS))
def test_every_quirk_of_case_15_is_parsed(name):
    assert LabelTask().parse(CASE_ANSWERS[name], ITEMS) == EXPECTED


@pytest.mark.parametrize(
    "text",
    [
        # trailing commas at every level
        '{"labels": [{"id": "1", "label": "Sadness",}, {"id": "2", "label": "Joy",},],}',
        # prose with braces and brackets before the real answer
        (
            'Note [1]: {ids} are positions. Answer: {"labels": [{"id": "1", "label": "Sadness"}, '
            '{"id": "2", "label": "Joy"}]}'
        ),
        # two fenced blocks: the first JSON value with the asked shape wins
        (
            '```json\n{"labels": [{"id": "1", "label": "Sadness"}, {"id": "2", "label": "Joy"}]}'
            '\n```\n```json\n{"labels": [{"id": "1", "label": "Joy"}]}\n```'
        ),
        # an object without the array before the answer (a model's own "meta" object)
        '{"note": "labels follow"}\n[{"id": "1", "label": "Sadness"}, {"id": "2", "label": "Joy"}]',
    ],
)
def test_more_of_each_kind(text):
    assert LabelTask().parse(text, ITEMS) == EXPECTED


def test_commas_inside_strings_are_kept():
    text = '{"answers": [{"id": "p1", "response": "a, b,] c,}",},]}'
    assert text_checks.answer_objects(text, "answers") == [{"id": "p1", "response": "a, b,] c,}"}]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "I could not label these sentences, sorry.",
            "answer is not valid JSON: it holds no JSON object or array",
        ),
        ('{"result": "ok"}', 'answer JSON has no "labels" array'),
        ("[1, 2, 3]", 'answer JSON has no "labels" array'),
    ],
)
def test_garbage_stays_malformed_with_its_reason(text, reason):
    with pytest.raises(MalformedAnswer) as err:
        LabelTask().parse(text, ITEMS)
    assert str(err.value) == reason


def test_a_cut_off_answer_is_never_completed_and_says_where_it_broke():
    text = 'Here: {"labels": [{"id": "1", "label": "Sadness"}, {"id": "2", "la'
    with pytest.raises(json.JSONDecodeError) as strict:
        json.JSONDecoder().raw_decode(text, text.index("{"))
    with pytest.raises(MalformedAnswer) as err:
        LabelTask().parse(text, ITEMS)
    assert str(err.value) == (
        f"answer is not valid JSON: {strict.value.msg} at char {strict.value.pos}"
    )


def test_a_truncated_therapist_reply_is_not_accepted_shortened():
    task = TherapyPairTask()
    item = TherapyPairTask.work_item("p1", "راني حاس براسي بوحدي", "Sadness", "advice")
    whole = "فاهمك مزيان، الوحدة صعيبة بزاف. جرب تكتب داكشي اللي فقلبك فورقة كل ليلة"
    cut = json.dumps({"answers": [{"id": "p1", "response": whole}]}, ensure_ascii=False)[:-20]
    with pytest.raises(MalformedAnswer, match="not valid JSON"):
        task.parse(cut, [item])


@pytest.mark.parametrize("vendor", ["groq", "gemini", "openai"])
def test_prose_and_fences_end_to_end_cost_one_request(vendor):
    """run_e2e.py of the case: the stub answers 'Here are the labels...```json {...}```'."""

    def teacher(request):
        answer = {"labels": [{"id": it["id"], "label": "Sadness"} for it in request.items()]}
        return "Here are the labels you asked for:\n```json\n" + json.dumps(answer) + "\n```"

    with StubServer(teacher) as stub:
        base = stub.url + "/v1" if vendor == "openai" else stub.url
        backend = make_backend(
            vendor,
            api_key=FAKE_KEY,
            base_url=base,
            model="m" if vendor == "openai" else None,
            timeout_s=10,
        )
        result = run_task(LabelTask(), ITEMS, backend, None, backoff_s=0.01, seed=0)
    stats = result.stats
    assert (stats["requests_sent"], stats["retries"], stats["accepted"], stats["quarantined"]) == (
        1,
        0,
        2,
        0,
    )
    assert len(stub.requests) == 1


def test_garbage_end_to_end_is_quarantined_with_the_raw_answer():
    garbage = "Sorry, I am not able to help with emotions today."
    with StubServer(lambda _request: garbage) as stub:
        backend = make_backend("openai", base_url=stub.url + "/v1", model="m", timeout_s=10)
        result = run_task(LabelTask(), ITEMS, backend, None, max_retries=1, backoff_s=0.01)
    assert result.rows == []
    assert [(q["key"], q["reason"], q["raw"]) for q in result.quarantined] == [
        (key, "answer is not valid JSON: it holds no JSON object or array", garbage)
        for key in ("s1", "s2")
    ]


# -- the question is the cache key (STYLE.md item 4) -------------------------------------
@pytest.mark.parametrize("task", [LabelTask(), TherapyPairTask(), TranslationTask()])
def test_key_is_stable_for_the_same_question(task):
    item = WorkItem(
        key="x", text="فرحان", extra={"emotion": "Joy", "style": "advice", "output": "زوين"}
    )
    assert cache_key("groq", "m", task, item) == cache_key("groq", "m", type(task)(), item)


def test_changing_the_wording_changes_the_key(monkeypatch):
    item = WorkItem(key="x", text="فرحان")
    before = cache_key("groq", "m", LabelTask(), item)
    monkeypatch.setattr(
        labels_module,
        "_DATA_NOT_INSTRUCTIONS",
        labels_module._DATA_NOT_INSTRUCTIONS.replace("never", "not"),
    )
    assert cache_key("groq", "m", LabelTask(), item) != before


def test_changing_the_answer_format_or_the_parser_changes_the_key(monkeypatch):
    item = WorkItem(key="x", text="فرحان")
    before = cache_key("groq", "m", LabelTask(), item)
    monkeypatch.setattr(labels_module, "_ANSWER_FORMAT", labels_module._ANSWER_FORMAT + " ")
    after_wording = cache_key("groq", "m", LabelTask(), item)
    monkeypatch.setattr(text_checks, "PARSER_VERSION", text_checks.PARSER_VERSION + "-next")
    after_parser = cache_key("groq", "m", LabelTask(), item)
    assert len({before, after_wording, after_parser}) == 3


def test_changing_the_user_message_template_changes_the_key(monkeypatch):
    item = WorkItem(key="x", text="فرحان")
    before = cache_key("groq", "m", LabelTask(), item)
    original = LabelTask.build_prompt

    def reworded(self, items):
        prompt = original(self, items)
        return type(prompt)(
            system=prompt.system,
            user=prompt.user.replace("Label", "Classify"),
            response_schema=prompt.response_schema,
            temperature=prompt.temperature,
            max_output_tokens=prompt.max_output_tokens,
        )

    monkeypatch.setattr(LabelTask, "build_prompt", reworded)
    assert cache_key("groq", "m", LabelTask(), item) != before
