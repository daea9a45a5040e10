"""Run a job of the code location from a terminal so that the web UI counts it as its own.

A run made by ``JobDefinition.execute_in_process`` (or by ``dagster asset materialize -m``)
records no code location: the UI's Overview and Jobs pages, which list the runs of the
location that ``dagster dev -w workspace.yaml`` loaded, leave it out, and re-executing it
warns about a code version mismatch. Here the run records the same origin as a launch from
the UI: the location named in workspace.yaml (``darija_assets``, as in pyproject's
``[tool.dagster]``), its repository ``__repository__``, the job's snapshot, and the Python
module the location loads. The run then executes in this process, on the executor the
``run_config`` picks.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.origin import DEFAULT_DAGSTER_ENTRY_POINT
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from darija_assets.classifier import DEFAULT_KIND

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
#: the Definitions object's attribute in the module workspace.yaml names
DEFINITIONS_ATTRIBUTE = "defs"
#: Dagster's name for the repository a Definitions object becomes
REPOSITORY_NAME = "__repository__"


#: what `make demo` (``darija-assets run-all``) materializes, job by job in this order, with
#: the partitions it runs by default. The stages are partitioned by different dimensions
#: (source, classifier kind, emotion, model preset), so no single job, and no "Materialize
#: all", can run them: the UI's way in is the same jobs with these partitions (README,
#: "To reproduce the demo from the UI"; each job's description names its demo partitions).
#: ``None``: every partition of the job (all seven emotions).
DEMO_PLAN: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("corpus_job", ("sample",)),
    # the default student; it reports itself skipped when only lexicon labels exist
    ("classifier_job", (DEFAULT_KIND,)),
    ("therapy_job", None),
    ("training_job", ("tiny",)),
    # the evaluation gate against the base, then the Ollama/vLLM export
    ("serving_job", ("tiny",)),
)


def demo_runs(
    sources: list[str] | None = None,
    emotions: list[str] | None = None,
    models: list[str] | None = None,
) -> list[tuple[str, str]]:
    """The (job, partition key) runs of :data:`DEMO_PLAN` in order, with the given
    sources, emotions and model presets in place of the demo's where given. ``None`` in
    the plan means every partition of the job."""
    from darija_assets.definitions import defs

    chosen = {
        "corpus_job": sources,
        "therapy_job": emotions,
        "training_job": models,
        "serving_job": models,
    }
    runs = []
    for job, keys in DEMO_PLAN:
        keys = chosen.get(job) or keys
        if keys is None:
            keys = defs.resolve_job_def(job).partitions_def.get_partition_keys()
        runs += [(job, key) for key in keys]
    return runs


def demo_step(job_name: str) -> str:
    """The sentence a job's description ends with: which step of the demo it is and which
    partitions the demo runs it for. Raises KeyError for a job the demo does not run."""
    steps = {job: (n, keys) for n, (job, keys) in enumerate(DEMO_PLAN, start=1)}
    n, keys = steps[job_name]
    partitions = "every partition" if keys is None else "partition " + ", ".join(keys)
    return f"Demo step {n} of {len(DEMO_PLAN)} (`make demo`): {partitions}."


def _workspace_entry() -> Mapping[str, str]:
    """The ``python_module`` entry of workspace.yaml: module_name, working_directory and
    location_name. Raises ValueError when the file has no such single entry."""
    entries = yaml.safe_load(WORKSPACE_FILE.read_text(encoding="utf-8"))["load_from"]
    modules = [e["python_module"] for e in entries if "python_module" in e]
    if len(modules) != 1:
        raise ValueError(f"{WORKSPACE_FILE} must load exactly one python_module location")
    return modules[0]


def location_name() -> str:
    """The code location's name, as workspace.yaml gives it to ``dagster dev``."""
    return _workspace_entry()["location_name"]


def _origins(job_name: str) -> tuple[ReconstructableJob, RemoteJobOrigin]:
    entry = _workspace_entry()
    working_directory = str((REPO_ROOT / entry.get("working_directory", ".")).resolve())
    loadable = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name=entry["module_name"],
        working_directory=working_directory,
    )
    remote = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=ManagedGrpcPythonEnvCodeLocationOrigin(
                loadable, entry["location_name"]
            ),
            repository_name=REPOSITORY_NAME,
        ),
        job_name=job_name,
    )
    repository = ReconstructableRepository(
        CodePointer.from_module(entry["module_name"], DEFINITIONS_ATTRIBUTE, working_directory),
        executable_path=sys.executable,
        entry_point=DEFAULT_DAGSTER_ENTRY_POINT,
    )
    return repository.get_reconstructable_job(job_name), remote


def run_job(
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str | None = None,
    *,
    run_config: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
    asset_selection: Collection[dg.AssetKey] | None = None,
) -> tuple[str, bool]:
    """Create a run of ``job_name`` (one partition; only ``asset_selection`` when given)
    that records the code location's origin, execute it here and return (run id, whether
    it succeeded). Step failures are recorded in the run, not raised."""
    job, remote_origin = _origins(job_name)
    selection = frozenset(asset_selection) if asset_selection else None
    if selection:
        job = job.get_subset(asset_selection=selection)
    job_def = job.get_definition()
    partition_tags = (
        job_def.get_tags_for_partition_key(partition_key, selected_asset_keys=None)
        if partition_key
        else {}
    )
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags={**partition_tags, **(tags or {})},
        asset_selection=selection,
        remote_job_origin=remote_origin,
        job_code_origin=job.get_python_origin(),
    )
    result = execute_run(job, run, instance)
    return run.run_id, result.success


def materialize(
    instance: dg.DagsterInstance,
    select: str,
    partition_key: str | None = None,
    *,
    run_config: Mapping[str, object] | None = None,
    tags: Mapping[str, str] | None = None,
) -> tuple[str, bool]:
    """``dagster asset materialize`` recorded as a run of the code location: ``select`` is
    its comma-separated selection ("raw_corpus,clean_text", "therapy_pairs+", "*sentences").
    Raises ``dagster.DagsterInvalidSubsetError`` when the selected assets do not share one
    partitions definition."""
    from darija_assets.definitions import defs

    repository = defs.get_repository_def()
    keys = dg.AssetSelection.from_coercible(select.split(",")).resolve(repository.asset_graph)
    job_def = repository.get_implicit_job_def_for_assets(keys)
    if job_def is None:
        raise dg.DagsterInvalidSubsetError(
            f"{select!r}: the selected assets do not share one partitions definition"
        )
    return run_job(
        instance,
        job_def.name,
        partition_key,
        run_config=run_config,
        tags=tags,
        asset_selection=keys,
    )
