"""Run recovery: a run whose worker process died is failed and its pool slots are freed.

Dagster frees a pool slot from the process that orchestrates the run (the run worker).
After a ``kill -9``, an OOM kill or a reboot, that process is gone: the run stays STARTED
and keeps the only slot of the ``llm`` or ``gpu`` pool, and every later run of those
steps waits "blocked by limit for pool" forever. Dagster's run monitoring would notice,
but only under the daemon and only with a run launcher that can check a worker's health;
the DefaultRunLauncher cannot (``supports_check_run_worker_health`` is False), and runs
started by ``dagster asset materialize`` or ``darija-assets`` have no daemon at all.

So every run of this code location says who runs it, and anyone can tell whether it died:

- The executor (:data:`executor`, Dagster's default multiprocess/in-process executor,
  wrapped) tags each run with its run worker's host, pid and process start time
  (:data:`WORKER_TAGS`; the start time tells a reused pid apart). ``darija-assets``
  passes the same tags to the runs it executes in process.
- A step worker (a child process of the run worker) ends itself when the run worker is
  gone, and ends its own children (a Scrapy crawl) with it
  (:func:`end_step_worker_with_run_worker`), so an orphaned step never keeps working for
  a run that is about to be failed. Every step resumes from its own durable
  progress, so nothing is lost.
- :func:`recover_dead_runs` fails every unfinished run recorded on *this* host whose run
  worker and step workers are all gone, with the event "run worker process <pid> on
  <host> is gone; marked failed by darija-assets run recovery", and frees its pool slots.
  A run of another host, a run without the tags, or a run with any live process is never
  touched. It runs where a new run would otherwise wait: in the executor before a run's
  steps queue for a pool (``dagster asset materialize``, runs launched from the UI), in
  ``darija-assets`` before it launches runs, and under the daemon in
  :data:`dead_run_sensor` every 15 s.

Process facts come from psutil; pids of step workers from Dagster's own STEP_START
events (every Dagster event records the pid that emitted it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType, JobFailureData, RunFailureReason

#: run tags naming the run worker: its host name, its pid, its start time (s since epoch)
WORKER_HOST_TAG = "darija/run_worker_host"
WORKER_PID_TAG = "darija/run_worker_pid"
WORKER_STARTED_TAG = "darija/run_worker_started"
WORKER_TAGS = (WORKER_HOST_TAG, WORKER_PID_TAG, WORKER_STARTED_TAG)

#: psutil reports start times from jiffies since boot; equal processes agree far closer than this
_START_TIME_TOLERANCE_S = 1.0
#: how often an orphaned step worker notices that its run worker is gone
_ORPHAN_POLL_S = 1.0
#: how often a running run, and the daemon's sensor, look for dead runs
SWEEP_INTERVAL_S = 15
#: how long an orphaned step worker's own children (a Scrapy crawl) get to stop
CHILD_GRACE_S = 10.0
#: the exit status of a step worker that ended because its run worker died (EX_SOFTWARE)
ORPHAN_EXIT_CODE = 70

_UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class WorkerProcess:
    """One process on one host: ``started`` (seconds since the epoch) tells apart two
    processes that were given the same pid one after the other."""

    host: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> WorkerProcess:
        import psutil

        return cls(socket.gethostname(), os.getpid(), psutil.Process().create_time())

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> WorkerProcess | None:
        """The run worker recorded in a run's tags, or None for a run without them."""
        if not all(tag in tags for tag in WORKER_TAGS):
            return None
        return cls(
            tags[WORKER_HOST_TAG], int(tags[WORKER_PID_TAG]), float(tags[WORKER_STARTED_TAG])
        )

    def tags(self) -> dict[str, str]:
        return {
            WORKER_HOST_TAG: self.host,
            WORKER_PID_TAG: str(self.pid),
            WORKER_STARTED_TAG: f"{self.started:.2f}",
        }

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def is_gone(self) -> bool:
        """True when no process with this pid and start time runs on this host; only
        meaningful for a process of this host (check :meth:`on_this_host` first)."""
        return not _alive(
            self.pid, lambda started: abs(started - self.started) <= _START_TIME_TOLERANCE_S
        )


def _alive(pid: int, same_start: Callable[[float], bool]) -> bool:
    import psutil  # here, not at load: the code location stays quick to load

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and same_start(process.create_time())
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # cannot tell: never judge a process dead on a guess


def worker_tags() -> dict[str, str]:
    """Tags naming the current process as a run's worker (for runs executed in process)."""
    return WorkerProcess.current().tags()


def _step_worker_alive(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of a live step worker of ``run_id`` on this host, or None. A pid counts
    only if its process started no later than the step did (else the pid was reused)."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START).records
    for record in records:
        entry = record.event_log_entry
        pid = entry.dagster_event.pid if entry.dagster_event else None
        if pid and _alive(
            pid, lambda started, at=entry.timestamp: started <= at + _START_TIME_TOLERANCE_S
        ):
            return pid
    return None


@dataclass(frozen=True)
class RecoveredRun:
    run_id: str
    job_name: str
    worker: WorkerProcess
    #: False when the run had already ended and only its pool slots were still held
    failed: bool


def recover_dead_runs(
    instance: dg.DagsterInstance, log: Callable[[str], object] = lambda _msg: None
) -> list[RecoveredRun]:
    """Fail every unfinished run of this host whose processes are all gone, and free the
    pool slots of those runs and of ended runs of this host that still hold slots.

    Returns what was done, one entry per run; ``log`` receives one line per run.
    """
    candidates = {
        r.dagster_run.run_id: r.dagster_run
        for r in instance.get_run_records(filters=dg.RunsFilter(statuses=_UNFINISHED))
    }
    storage = instance.event_log_storage
    holding = (
        storage.get_concurrency_run_ids() if storage.supports_global_concurrency_limits else set()
    )
    for run_id in holding - set(candidates):
        run = instance.get_run_by_id(run_id)
        if run is not None:
            candidates[run_id] = run

    recovered = []
    for run in candidates.values():
        worker = WorkerProcess.from_tags(run.tags)
        if worker is None or not worker.on_this_host() or not worker.is_gone():
            continue
        if _step_worker_alive(instance, run.run_id) is not None:
            continue  # an orphaned step worker ends itself within a second: judge it next time
        # read again: a worker that ended normally since the list was read recorded its end
        run = instance.get_run_by_id(run.run_id) or run
        failed = not run.is_finished
        if not failed and run.run_id not in holding:
            continue
        if failed:
            message = (
                f"run worker process {worker.pid} on {worker.host} is gone; "
                "marked failed by darija-assets run recovery"
            )
            instance.report_run_failed(
                run,
                message,
                JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
            )
        if run.run_id in holding:
            storage.free_concurrency_slots_for_run(run.run_id)
        log(
            f"run recovery: run {run.run_id} ({run.job_name}) "
            + ("marked failed" if failed else "had ended")
            + f", its worker {worker.pid} on {worker.host} is gone"
            + ("; its pool slots are freed" if run.run_id in holding else "")
        )
        recovered.append(RecoveredRun(run.run_id, run.job_name, worker, failed))
    return recovered


def end_step_worker_with_run_worker(context: dg.InitResourceContext) -> None:
    """In a step worker (a child process of the run worker), start a watch that ends this
    process once the run worker is gone: an orphaned step would otherwise keep working,
    and writing, for a run that recovery is about to fail. Does nothing when the step runs
    inside the run worker itself (in-process execution) or outside a recorded run."""
    instance, run_id = context.instance, context.run.run_id if context.run else None
    if instance is None or run_id is None or _watching.is_set():
        return
    run = instance.get_run_by_id(run_id)  # fresh: the executor tagged it after this run was loaded
    worker = WorkerProcess.from_tags(run.tags) if run else None
    if worker is None or worker.pid == os.getpid() or worker.pid != os.getppid():
        return
    _watching.set()

    def farewell() -> None:
        instance.report_engine_event(orphan_message(os.getpid(), worker.pid), run)

    threading.Thread(
        target=exit_when_orphaned, args=(worker.pid, farewell), name="run-worker-watch", daemon=True
    ).start()


_watching = threading.Event()


def exit_when_orphaned(parent_pid: int, farewell: Callable[[], object]) -> None:
    """Block until this process's parent ``parent_pid`` is gone (the process is handed to
    another parent), then call ``farewell``, end this process's own children (SIGTERM,
    which Scrapy takes as a graceful stop, then SIGKILL after :data:`CHILD_GRACE_S`) and
    exit with :data:`ORPHAN_EXIT_CODE`. Nothing else is flushed on purpose: every step
    keeps its progress in atomic writes and SQLite."""
    import psutil

    while os.getppid() == parent_pid:
        time.sleep(_ORPHAN_POLL_S)
    try:
        farewell()
        children = psutil.Process().children()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=CHILD_GRACE_S)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
    finally:  # end even if the event cannot be written or a child cannot be signalled
        os._exit(ORPHAN_EXIT_CODE)


def orphan_message(step_pid: int, worker_pid: int) -> str:
    """The event an orphaned step worker leaves in its run's log before it ends."""
    return f"step worker {step_pid} ends: its run worker {worker_pid} is gone"


class _RecoveringExecutor(dg.Executor):
    """Dagster's executor, preceded by the run's worker tags and a dead-run sweep."""

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        instance, log = plan_context.instance, plan_context.log.info
        # Tag first: a run is judged only by its tags, so it is never judged before it has them.
        instance.add_run_tags(plan_context.run_id, worker_tags())
        _sweep(instance, log, plan_context.log.warning)
        # Sweep again now and then: a run that holds the slot this run waits for may die later.
        done = threading.Event()
        sweeper = threading.Thread(
            target=_sweep_until,
            args=(done, instance, log, plan_context.log.warning),
            name="dead-run-sweep",
            daemon=True,
        )
        sweeper.start()
        try:
            yield from self._inner.execute(plan_context, execution_plan)
        finally:
            done.set()


def _sweep_until(done: threading.Event, instance: dg.DagsterInstance, log, warn) -> None:
    while not done.wait(SWEEP_INTERVAL_S):
        _sweep(instance, log, warn)


def _sweep(instance: dg.DagsterInstance, log, warn) -> None:
    # Recovery helps this run; a failure of it (e.g. a locked SQLite file) must not fail it.
    try:
        recover_dead_runs(instance, log)
    except Exception as error:  # noqa: BLE001
        warn(f"run recovery could not check for dead runs: {error!r}")


def _recovering(init_context: dg.InitExecutorContext) -> dg.Executor:
    return _RecoveringExecutor(dg.multi_or_in_process_executor.executor_creation_fn(init_context))


#: the code location's executor: Dagster's default (same config: ``multiprocess`` or
#: ``in_process``), which records its run worker and recovers dead runs before it starts
executor = dg.ExecutorDefinition(
    name="recovering_multi_or_in_process_executor",
    config_schema=dg.multi_or_in_process_executor.config_schema,
    requirements=dg.multi_or_in_process_executor.get_requirements,
    executor_creation_fn=_recovering,
    description="Dagster's default executor; tags the run with its worker and first fails "
    "dead runs of this host, freeing their pool slots (darija_assets.recovery).",
)


@dg.sensor(
    name="dead_run_recovery",
    minimum_interval_seconds=SWEEP_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs of this host whose worker process died and frees their pool "
    "slots (the DefaultRunLauncher cannot check a run worker's health).",
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    recovered = recover_dead_runs(context.instance, context.log.info)
    if not recovered:
        return dg.SkipReason("no dead runs on this host")
    return dg.SkipReason(
        f"recovered {len(recovered)} dead run(s): " + ", ".join(r.run_id for r in recovered)
    )
