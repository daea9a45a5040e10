"""A run whose worker is killed with -9 no longer blocks its pool: the next run (from the
command line) or the daemon (`dagster dev`) fails it and frees its slot, with no person
stepping in; a live run, a run of another host and a run without a worker record are
never touched.

The end-to-end tests run the real teacher_labels step (pool ``llm``, one slot) through
the real groq SDK against the vendor stub, slowed down so that the step is inside its
slot when the run worker is killed; the kill comes once the teacher got its first
request."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import psutil
import pytest

from darija_assets.llm.stub_server import StubServer, lexicon_label_teacher
from darija_assets.recovery import (
    WORKER_HOST_TAG,
    WORKER_PID_TAG,
    WorkerProcess,
    orphan_message,
    recover_dead_runs,
    worker_tags,
)
from darija_assets_tests import REPO_ROOT

DAGSTER = Path(sys.executable).with_name("dagster")
#: a teacher this slow keeps teacher_labels inside its pool slot until the test kills the run
SLOW_TEACHER_S = 600.0
#: the issue asks for "within a minute"; the daemon's sensor ticks every 15 s
DAEMON_DEADLINE_S = 90
GONE_MESSAGE = (
    "run worker process {pid} on {host} is gone; marked failed by darija-assets run recovery"
)


# -- judging runs: a temp instance, no subprocess ------------------------------------------


@pytest.fixture
def instance(tmp_path, monkeypatch) -> Iterator[dg.DagsterInstance]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 3)  # room for three test runs
        yield instance


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=str(uuid.uuid4()),
        tags=tags,
        status=dg.DagsterRunStatus.STARTED,
    )
    instance.add_run(run)
    # the run holds an llm slot, as a running teacher_labels step does
    claim = instance.event_log_storage.claim_concurrency_slot("llm", run.run_id, "teacher_labels")
    assert claim.is_claimed
    return run.run_id


def _dead_process() -> WorkerProcess:
    """A process of this host that ran and exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return WorkerProcess(socket.gethostname(), child.pid, started)


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def _slot_holders(instance: dg.DagsterInstance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info("llm").claimed_slots}


def test_a_dead_run_of_this_host_is_failed_and_its_slot_freed(instance):
    worker = _dead_process()
    run_id = _started_run(instance, worker.tags())
    [recovered] = recover_dead_runs(instance)
    assert (recovered.run_id, recovered.failed) == (run_id, True)
    assert _status(instance, run_id) == dg.DagsterRunStatus.FAILURE
    assert _slot_holders(instance) == set()
    [failure] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert failure.message == GONE_MESSAGE.format(pid=worker.pid, host=worker.host)


def test_a_reused_pid_does_not_keep_a_dead_run_alive(instance):
    # this very process has the pid, but it started later than the recorded worker
    me = WorkerProcess.current()
    run_id = _started_run(instance, WorkerProcess(me.host, me.pid, me.started - 3600).tags())
    assert [r.run_id for r in recover_dead_runs(instance)] == [run_id]
    assert _status(instance, run_id) == dg.DagsterRunStatus.FAILURE


def test_live_foreign_and_unrecorded_runs_are_never_touched(instance):
    live = _started_run(instance, worker_tags())
    dead = _dead_process()
    foreign = _started_run(instance, {**dead.tags(), WORKER_HOST_TAG: f"not-{dead.host}"})
    unrecorded = _started_run(instance, {})
    assert recover_dead_runs(instance) == []
    for run_id in (live, foreign, unrecorded):
        assert _status(instance, run_id) == dg.DagsterRunStatus.STARTED
    assert _slot_holders(instance) == {live, foreign, unrecorded}


def test_an_ended_run_that_still_holds_a_slot_gives_it_back(instance):
    run_id = _started_run(instance, _dead_process().tags())
    instance.report_run_failed(instance.get_run_by_id(run_id), "failed from outside its worker")
    [recovered] = recover_dead_runs(instance)
    assert (recovered.run_id, recovered.failed) == (run_id, False)
    assert len(instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)) == 1
    assert _slot_holders(instance) == set()


# A step worker whose run worker died: the step worker ends, and ends its own children.
STEP_WORKER = """
import os, subprocess, sys
from darija_assets.recovery import exit_when_orphaned
crawl = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(os.getpid(), crawl.pid, flush=True)
exit_when_orphaned(os.getppid(), lambda: print("farewell", flush=True))
"""
RUN_WORKER = f"""
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", {STEP_WORKER!r}])
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_an_orphaned_step_worker_ends_itself_and_its_children():
    run_worker = subprocess.Popen(
        [sys.executable, "-c", RUN_WORKER], stdout=subprocess.PIPE, text=True
    )
    step_pid, crawl_pid = map(int, run_worker.stdout.readline().split())
    assert _running(step_pid) and _running(crawl_pid)
    run_worker.kill()
    run_worker.wait()
    assert run_worker.stdout.readline().strip() == "farewell"
    _wait(lambda: not _running(step_pid) and not _running(crawl_pid), 30, "end of the orphans")


# -- real runs: the CLI and dagster dev ------------------------------------------------------


@dataclass
class Site:
    """One DAGSTER_HOME and data directory, with sentences[sample] already materialized."""

    root: Path
    env: dict[str, str]
    config: Path

    @property
    def home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def materialize(self, *select: str) -> subprocess.Popen:
        """Start `dagster asset materialize` on partition sample; its output goes to
        :meth:`log`."""
        command = [str(DAGSTER), "asset", "materialize", "-m", "darija_assets"]
        command += ["--select", ",".join(select), "--partition", "sample", "-c", str(self.config)]
        with (self.root / "cli.log").open("a") as log:
            process = subprocess.Popen(
                command, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return process

    def log(self) -> str:
        return (self.root / "cli.log").read_text()


def _llm_config(stub: StubServer, model: str) -> dict:
    """Run config: teacher_labels asks the stub through the real groq SDK."""
    llm = {
        "backend": "groq",
        "model": model,
        "groq_base_url": stub.url,
        "groq_api_key": {"env": "GROQ_API_KEY"},
        "requests_per_minute": 0,
    }
    return {"resources": {"llm": {"config": llm}}}


@pytest.fixture(scope="module")
def sentences_data(tmp_path_factory) -> Path:
    """raw_corpus, clean_text and sentences of the bundled sample, materialized once."""
    root = tmp_path_factory.mktemp("sentences")
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(root / "home"), "DARIJA_DATA_DIR": str(root / "data")}
    done = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "darija_assets", "--partition", "sample"]
        + ["--select", "raw_corpus,clean_text,sentences"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "data"


@pytest.fixture
def teacher() -> Iterator[StubServer]:
    with StubServer(lexicon_label_teacher, latency_s=SLOW_TEACHER_S) as stub:
        yield stub


@pytest.fixture
def site(tmp_path, sentences_data, teacher, monkeypatch) -> Site:
    # a fresh copy per test: its own answer cache, so teacher_labels has questions to ask
    shutil.copytree(sentences_data, tmp_path / "data")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "DARIJA_DATA_DIR": str(tmp_path / "data"),
        "GROQ_API_KEY": "test-key",
    }
    env.pop("GEMINI_API_KEY", None)
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    config = tmp_path / "llm.yaml"
    config.write_text(json.dumps(_llm_config(teacher, "llama-3.3-70b-versatile")))
    return Site(tmp_path, env, config)


def _wait(condition, timeout_s: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"process exited (rc {process.returncode}) before {what}")
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:.0f} s"
        time.sleep(0.5)


def _teacher_asked(teacher: StubServer) -> bool:
    return bool(teacher.requests)


def _only_run(site: Site) -> dg.DagsterRun:
    with site.instance() as instance:
        [run] = instance.get_runs()
        return run


def _finished(site: Site, process: subprocess.Popen, timeout_s: float) -> None:
    process.wait(timeout=timeout_s)
    assert process.returncode == 0, site.log()[-4000:]


def _assert_failed_by_recovery(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    assert _status(instance, run.run_id) == dg.DagsterRunStatus.FAILURE
    messages = [
        e.message for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    ]
    worker = WorkerProcess.from_tags(instance.get_run_by_id(run.run_id).tags)
    assert GONE_MESSAGE.format(pid=worker.pid, host=worker.host) in messages


@pytest.mark.slow
def test_a_cli_run_killed_with_minus_9_does_not_block_the_next_one(site, teacher):
    killed = site.materialize("teacher_labels")
    _wait(lambda: _teacher_asked(teacher), 180, "request to the teacher", killed)
    run = _only_run(site)
    with site.instance() as instance:
        assert _slot_holders(instance) == {run.run_id}
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    teacher.latency_s = 0.0

    rerun = site.materialize("teacher_labels")
    _finished(site, rerun, 300)
    assert f"run recovery: run {run.run_id} (__ASSET_JOB) marked failed" in site.log()
    with site.instance() as instance:
        _assert_failed_by_recovery(instance, run)
        run_tags = instance.get_run_by_id(run.run_id).tags
        assert _slot_holders(instance) == set()
        assert instance.get_materialized_partitions(dg.AssetKey("teacher_labels")) == {"sample"}
        # the killed run's step worker ended with its run worker instead of labelling on
        [step_start] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        step_pid, worker = step_start.dagster_event.pid, WorkerProcess.from_tags(run_tags)
        assert orphan_message(step_pid, worker.pid) in [
            e.message for e in instance.all_logs(run.run_id)
        ]
        assert not psutil.pid_exists(step_pid)


@pytest.mark.slow
def test_a_live_run_keeps_its_slot_and_a_waiting_run_gets_it_when_it_dies(site, teacher):
    first = site.materialize("teacher_labels")
    _wait(lambda: _teacher_asked(teacher), 180, "request to the teacher", first)
    blocker = _only_run(site)
    waiting = site.materialize("teacher_labels")

    def waiting_run_queued() -> bool:
        with site.instance() as instance:
            pending = instance.event_log_storage.get_concurrency_info("llm").pending_steps
            return any(p.run_id != blocker.run_id for p in pending)

    # the waiting run swept for dead runs before it queued for the slot
    _wait(waiting_run_queued, 120, "second run waiting for the llm slot", waiting)
    with site.instance() as instance:
        assert recover_dead_runs(instance) == []
        assert _status(instance, blocker.run_id) == dg.DagsterRunStatus.STARTED
        assert _slot_holders(instance) == {blocker.run_id}

    first.send_signal(signal.SIGKILL)
    first.wait()
    teacher.latency_s = 0.0
    _finished(site, waiting, 300)  # it sweeps again while it waits
    with site.instance() as instance:
        _assert_failed_by_recovery(instance, blocker)
        assert _slot_holders(instance) == set()
        statuses = {r.run_id: r.status for r in instance.get_runs()}
        assert sorted(statuses.values(), key=str) == sorted(
            [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS], key=str
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["data"]


LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


@pytest.fixture
def dagster_dev(site) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=site.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def loaded() -> bool:
        try:
            data = _graphql(
                port,
                "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }",
            )
        except httpx.HTTPError:
            return False
        entries = data["workspaceOrError"]["locationEntries"]
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    try:
        _wait(loaded, 180, "code location loaded by dagster dev", process)
        yield port
    finally:
        # dagster dev ignores SIGINT/SIGTERM when started without a terminal
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _retried_and_succeeded(site: Site, run_id: str) -> bool:
    with site.instance() as instance:
        retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return any(r.status == dg.DagsterRunStatus.SUCCESS for r in retries)


def _failed_and_slot_freed(site: Site, run_id: str) -> bool:
    with site.instance() as instance:
        return _status(
            instance, run_id
        ) == dg.DagsterRunStatus.FAILURE and run_id not in _slot_holders(instance)


@pytest.mark.slow
def test_under_dagster_dev_a_dead_run_is_failed_its_slot_freed_and_retried(
    site, teacher, dagster_dev
):
    # 1. a CLI run killed while the daemon runs: only the dead_run_recovery sensor sees it
    killed = site.materialize("teacher_labels")
    _wait(lambda: _teacher_asked(teacher), 180, "request to the teacher", killed)
    cli_run = _only_run(site)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    teacher.latency_s = 0.0
    _wait(lambda: _failed_and_slot_freed(site, cli_run.run_id), DAEMON_DEADLINE_S, "recovery")
    with site.instance() as instance:
        _assert_failed_by_recovery(instance, cli_run)
    # (a CLI run has no code location origin, so run_retries cannot launch it again)

    # 2. a run launched from the UI (it gets the freed slot) whose run worker is killed;
    # a new model means new questions for the teacher
    teacher.latency_s = SLOW_TEACHER_S
    asked = len(teacher.requests)
    config = _llm_config(teacher, "llama-3.1-8b-instant")
    data = _graphql(
        dagster_dev,
        LAUNCH_RUN,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": "darija_assets",
                    "repositoryName": "__repository__",
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": ["teacher_labels"]}],
                },
                "runConfigData": config,
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "sample"}]},
            }
        },
    )
    launched = data["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    _wait(lambda: len(teacher.requests) > asked, 180, "request to the teacher from the UI run")
    with site.instance() as instance:
        worker_pid = int(instance.get_run_by_id(run_id).tags[WORKER_PID_TAG])
    os.kill(worker_pid, signal.SIGKILL)
    teacher.latency_s = 0.0
    _wait(lambda: _failed_and_slot_freed(site, run_id), DAEMON_DEADLINE_S, "failure and free slot")
    # run_retries (dagster.yaml) launches it again; it completes with no one stepping in
    _wait(lambda: _retried_and_succeeded(site, run_id), 240, "successful retry of the UI run")
