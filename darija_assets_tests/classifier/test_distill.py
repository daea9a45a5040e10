"""The student in teacher_labels: as the ``student`` backend it labels a second source
with no teacher request; in distillation mode a scripted teacher behind the stub
server (real Groq SDK) gets exactly the seeded sample plus the sentences the student
is unsure of, and the requests are counted at the server."""

from __future__ import annotations

import json
import math

import dagster as dg
import polars as pl
import pytest

from darija_assets.assets.labels import teacher_labels
from darija_assets.classifier.distill import budget_size, plan_distillation
from darija_assets.classifier.train import train_classifier
from darija_assets.llm.base import WorkItem
from darija_assets.llm.stub_server import StubRequest, StubServer
from darija_assets.resources import LLMResource, StorageResource
from darija_assets.storage import Layout, write_parquet
from darija_assets_tests.classifier.conftest import made_up_rows
from darija_assets_tests.metadata_blocks import read_block

pytestmark = pytest.mark.slow

FAKE_KEY = "test-key-not-a-secret"
SOURCE = "9esa"  # the second source: its sentences are new to the student
BATCH = 10


@pytest.fixture(scope="module")
def second_source() -> pl.DataFrame:
    """Sentences the student never saw (another seed), with their true labels."""
    rows = made_up_rows(seed=11)[:120]
    return pl.DataFrame(
        {
            "sentence_id": [f"s{i:04d}" for i in range(len(rows))],
            "sentence": [r["text"] for r in rows],
            "url": ["file://second.jsonl"] * len(rows),
            "source": [SOURCE] * len(rows),
            "truth": [r["label"] for r in rows],
        }
    )


@pytest.fixture
def setup(tmp_path, labels_frame, second_source):
    data = tmp_path / "data"
    layout = Layout(data)
    train_classifier(labels_frame, layout.artifact("emotion_classifier", "linear"))
    write_parquet(second_source.drop("truth"), layout.table("sentences", SOURCE))
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield layout, instance


def _label(layout, instance, llm, config=None):
    result = dg.materialize(
        [teacher_labels],
        partition_key=SOURCE,
        instance=instance,
        resources={"storage": StorageResource(data_dir=str(layout.root)), "llm": llm},
        run_config={"ops": {"teacher_labels": {"config": config}}} if config else None,
    )
    assert result.success
    metadata = {
        k: v.value
        for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()
    }
    # the distillation counters are detail: they are in the "teacher" block
    return pl.read_parquet(layout.table("teacher_labels", SOURCE)), {
        **metadata,
        **read_block(metadata["teacher"]),
    }


def test_the_student_backend_labels_a_source_with_no_teacher_request(setup, second_source):
    layout, instance = setup
    table, metadata = _label(layout, instance, LLMResource(backend="student", model="linear"))
    assert table.height == second_source.height
    assert set(table["backend"]) == {"student"}
    assert set(table["model"]) == {"emotion_classifier/linear"}
    assert table["student_confidence"].is_between(0, 1).all()
    assert metadata["teacher_requests"] == 0 and metadata["requests_sent"] == 0
    assert metadata["student_labelled"] == second_source.height
    truth = dict(second_source.select("sentence_id", "truth").iter_rows())
    agreement = sum(
        truth[s] == label for s, label in table.select("sentence_id", "label").iter_rows()
    )
    print(f"student backend vs the made-up truth: {agreement}/{table.height}")
    assert agreement / table.height > 0.8


def _truth_teacher(truth_by_text: dict[str, str]):
    def respond(request: StubRequest) -> str:
        answers = [{"id": i["id"], "label": truth_by_text[i["text"]]} for i in request.items()]
        return json.dumps({"labels": answers}, ensure_ascii=False)

    return respond


def test_distillation_asks_the_teacher_for_the_sample_and_the_unsure_only(setup, second_source):
    layout, instance = setup
    truth = dict(second_source.select("sentence", "truth").iter_rows())
    config = {
        "student": "linear",
        "teacher_budget": 0.1,
        "student_threshold": 0.45,
        "batch_size": BATCH,
    }
    with StubServer(_truth_teacher(truth)) as stub:
        llm = LLMResource(
            backend="groq",
            groq_api_key=FAKE_KEY,
            groq_base_url=stub.url,
            requests_per_minute=0,
            tokens_per_minute=0,
            concurrency=1,
        )
        table, metadata = _label(layout, instance, llm, config)
        sent = [item["text"] for request in stub.requests for item in request.items()]

    by_teacher = table.filter(pl.col("backend") == "groq")
    by_student = table.filter(pl.col("backend") == "student")
    assert by_teacher.height + by_student.height == second_source.height
    # the teacher saw exactly the sentences it labelled, each once
    assert sorted(sent) == sorted(by_teacher["sentence"].to_list())
    assert len(stub.requests) == math.ceil(by_teacher.height / BATCH)
    assert metadata["teacher_requests"] == len(stub.requests)
    assert metadata["teacher_requests_saved"] == math.ceil(second_source.height / BATCH) - len(
        stub.requests
    )
    # the sample (10% of 120) and every unsure sentence went to the teacher
    assert metadata["teacher_sample"] == budget_size(0.1, second_source.height) == 12
    assert (by_student["student_confidence"] >= 0.45).all()
    assert by_teacher.height == 12 + metadata["teacher_unsure"]
    unsure = table.filter(pl.col("student_confidence") < 0.45)
    assert unsure.height >= metadata["teacher_unsure"] > 0
    assert set(unsure["backend"]) == {"groq"}
    assert by_teacher.filter(pl.col("student_confidence") >= 0.45).height <= 12  # sample only
    # the teacher's labels are its own; the agreement is measured on the sample
    assert all(truth[s] == label for s, label in by_teacher.select("sentence", "label").iter_rows())
    assert 0.5 <= metadata["student_agreement_on_sample"] <= 1
    print(
        f"distillation: {len(stub.requests)} teacher requests instead of "
        f"{math.ceil(second_source.height / BATCH)}; agreement on the sample "
        f"{metadata['student_agreement_on_sample']}"
    )

    # a rerun asks nothing new: the teacher's answers are cached, the plan is the same
    with StubServer(_truth_teacher(truth)) as stub:
        llm = llm.model_copy(update={"groq_base_url": stub.url})
        again, _ = _label(layout, instance, llm, config)
        assert stub.requests == []
    assert again.drop("labelled_at").equals(table.drop("labelled_at"))


def test_a_budget_without_a_teacher_is_a_clear_error(setup):
    layout, instance = setup
    result = dg.materialize(
        [teacher_labels],
        partition_key=SOURCE,
        instance=instance,
        resources={
            "storage": StorageResource(data_dir=str(layout.root)),
            "llm": LLMResource(backend="student", model="linear"),
        },
        run_config={"ops": {"teacher_labels": {"config": {"teacher_budget": 5}}}},
        raise_on_error=False,
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert "needs a teacher" in str(error.message) + str(error.cause)


def test_the_sample_is_seeded_and_independent_of_input_order(labels_frame, tmp_path):
    from darija_assets.classifier.student import load_student

    report = train_classifier(labels_frame, tmp_path / "student")
    student = load_student(report.directory)
    items = [WorkItem(key=f"k{i}", text=r["text"]) for i, r in enumerate(made_up_rows(seed=5)[:50])]
    plan = plan_distillation(items, student, "s", label_set=student.labels, budget=7, seed=1)
    reordered = plan_distillation(
        items[::-1], student, "s", label_set=student.labels, budget=7, seed=1
    )
    assert plan.sample == reordered.sample and len(plan.sample) == 7
    assert (
        plan_distillation(items, student, "s", label_set=student.labels, budget=7, seed=2).sample
        != plan.sample
    )
    with pytest.raises(ValueError, match="outside the label set"):
        plan_distillation(items, student, "s", label_set=["Joy", "Neutral"])
    assert budget_size(0.25, 10) == 3 and budget_size(40, 10) == 10 and budget_size(0, 10) == 0
