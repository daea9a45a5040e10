"""The garbage-then-recovery teacher as an operator meets it: teacher_labels materialized
in a real Dagster instance, the LLM resource configured as a user would (groq, a key,
the stub's base URL), no manual step between the runs.

1. The teacher answers only garbage: the step fails loudly, every sentence quarantined.
2. The teacher recovers: the rerun labels everything, asking each sentence once more,
   except the few it now answers with a label outside the set (content rejections).
3. A rerun asks nothing: content rejections stay.
4. With ``reask_rejected: true`` in the resource's run config, only those are asked.
"""

from __future__ import annotations

from collections import Counter

import dagster as dg
import polars as pl
import pytest

from darija_assets.assets.labels import teacher_labels
from darija_assets.llm import lexicon
from darija_assets.llm.cache import AnswerCache, cache_path
from darija_assets.llm.stub_server import StubServer
from darija_assets.resources import LLMResource, StorageResource
from darija_assets.storage import Layout, write_parquet

from .conftest import FAKE_KEY, darija_items, texts_in
from .test_cache_recovery import Teacher

pytestmark = pytest.mark.slow  # Dagster materializations

N, BATCH = 12, 4


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    """A data directory whose ``sentences[sample]`` table holds N Darija sentences, as
    the sentences step writes it."""
    for key in ("GEMINI_API_KEY", "GROQ_API_KEY", "DARIJA_LOCAL_MODEL", "DARIJA_SOURCES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DARIJA_DATA_DIR", str(tmp_path / "data"))
    layout = Layout(tmp_path / "data")
    items = darija_items(N)
    write_parquet(
        pl.DataFrame(
            {
                "sentence_id": [i.key for i in items],
                "sentence": [i.text for i in items],
                "url": [f"http://127.0.0.1/story/{i.key}" for i in items],
                "source": ["sample"] * N,
            }
        ),
        layout.table("sentences", "sample"),
    )
    return layout


def test_a_teacher_that_recovers_needs_no_manual_step(layout, tmp_path):
    items = darija_items(N)
    texts = {i.key: i.text for i in items}
    bored = {items[0].text, items[5].text}
    teacher = Teacher()

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance, StubServer(teacher) as stub:

        def materialize(**llm_options):
            before = len(stub.requests)
            llm = LLMResource(
                backend="groq",
                groq_api_key=FAKE_KEY,
                groq_base_url=stub.url,
                requests_per_minute=0,
                tokens_per_minute=0,
                max_retries=1,
                **llm_options,
            )
            result = dg.materialize(
                [teacher_labels],
                partition_key="sample",
                instance=instance,
                resources={"storage": StorageResource(), "llm": llm},
                run_config={"ops": {"teacher_labels": {"config": {"batch_size": BATCH}}}},
                raise_on_error=False,
            )
            asked = Counter(t for r in stub.requests[before:] for t in texts_in(r))
            return result, asked

        # -- 1. garbage: the step fails, with the reason and the counts -------------------
        first, asked = materialize()
        assert not first.success
        [failure] = [e for e in first.all_events if e.event_type_value == "STEP_FAILURE"]
        message = str(failure.event_specific_data.error)
        assert "no usable answer" in message and "answer is not valid JSON" in message
        assert asked == {t: 2 for t in texts.values()}  # a try and a retry each

        # -- 2. recovered: every sentence asked once more, the bored ones retried --------
        teacher.broken, teacher.bored = False, bored
        second, asked = materialize()
        assert second.success
        assert asked == {t: 2 if t in bored else 1 for t in texts.values()}
        labels = pl.read_parquet(layout.table("teacher_labels", "sample"))
        assert dict(labels.select("sentence_id", "label").iter_rows()) == {
            k: lexicon.label(t) for k, t in texts.items() if t not in bored
        }
        quarantine = pl.read_parquet(layout.quarantine("teacher_labels", "sample"))
        assert set(quarantine["sentence_id"]) == {k for k, t in texts.items() if t in bored}

        # -- 3. a plain rerun asks nothing: content rejections stay ----------------------
        third, asked = materialize()
        assert third.success and asked == {}

        # -- 4. reask_rejected in run config asks exactly those ------------------------
        teacher.bored = set()
        fourth, asked = materialize(reask_rejected=True)
        assert fourth.success and asked == {t: 1 for t in bored}
        labels = pl.read_parquet(layout.table("teacher_labels", "sample"))
        assert dict(labels.select("sentence_id", "label").iter_rows()) == {
            k: lexicon.label(t) for k, t in texts.items()
        }

    with AnswerCache(cache_path(layout)) as cache:
        assert cache.counts(["status"]) == [(("accepted",), N)]
