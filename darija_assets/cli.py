"""`darija-assets`: run the whole asset graph from a terminal, or talk to an adapter.

    darija-assets run-all                 every asset on the embedded defaults
    darija-assets run-all --source 9esa   the live site instead of the bundled one
    darija-assets materialize --select raw_corpus,clean_text --partition sample
                                          some assets, as `dagster asset materialize`
    darija-assets chat --model tiny       talk to the adapter trained for a preset
    darija-assets serve --model tiny      the same in a web chat (http://127.0.0.1:8765),
                                          conversations kept in SQLite
    darija-assets classify "جملة"         the student classifier's label and confidence
    darija-assets classify --file in.jsonl --out out.jsonl   label a JSONL file in batches
    darija-assets sources                 the source partitions, and entries of $DARIJA_SOURCES
                                          that were rejected, with the reason
    darija-assets teachers                the LLM backends, their limits, today's quota left,
                                          and which one auto would pick
    darija-assets cache                   what the LLM answer cache holds, by task, backend...
    darija-assets cache drop --task pairs how many answers would go; add --yes to drop them

Runs are recorded in $DAGSTER_HOME (default ./.dagster_home), so they show in
`dagster dev` exactly like runs launched from the UI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

DEFAULT_DAGSTER_HOME = ".dagster_home"
#: run-all executes each run's steps in its own process, one after another
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def _ensure_dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    bundled = Path(__file__).resolve().parent.parent / "dagster.yaml"
    if not instance_config.exists() and bundled.exists():
        shutil.copyfile(bundled, instance_config)
    return home


def run_all(sources: list[str], emotions: list[str], models: list[str]) -> int:
    """Materialize the graph in dependency order, as launch.DEMO_PLAN lists it: each
    source, then the student classifier, then each emotion, then each model preset.
    Returns the number of failed runs."""
    import dagster as dg

    from darija_assets.launch import demo_runs, run_job
    from darija_assets.recovery import recover_dead_runs, worker_tags

    home = _ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    # A run killed earlier would keep its pool slot and block these runs forever.
    recover_dead_runs(instance, print)
    plan = demo_runs(sources, emotions, models)

    failures = 0
    for job_name, partition in plan:
        print(f"==> {job_name} [{partition}]", flush=True)
        # recorded as runs of the code location, so the UI's Overview and Jobs list them
        run_id, success = run_job(
            instance, job_name, partition, run_config=IN_PROCESS, tags=worker_tags()
        )
        failures += not success
        status = "ok" if success else "FAILED"
        print(f"<== {job_name} [{partition}] {status} (run {run_id})", flush=True)
    print(f"\n{len(plan) - failures}/{len(plan)} runs succeeded; runs are in {home}.")
    _print_gate_reports(models)
    print("Browse them with: make dev   (then open http://127.0.0.1:3000)")
    return failures


def _print_gate_reports(models: list[str]) -> None:
    """Print each preset's adapter_eval report (the eval gate), where one was written."""
    import json

    from darija_assets.assets.serving import REPORT_FILE
    from darija_assets.serving.evaluate import format_gate_report
    from darija_assets.storage import Layout

    for model in models:
        path = Layout().artifact("adapter_eval", model) / REPORT_FILE
        if path.exists():
            print("\n" + format_gate_report(json.loads(path.read_text(encoding="utf-8"))))
        else:
            print(f"\neval gate [{model}]: no report (adapter_eval did not run)")


def serve(preset_name: str, host: str, port: int, db: str | None) -> int:
    """Start the chat page for the adapter lora_adapter[preset_name] wrote."""
    from darija_assets.serving.chat_app import serve as serve_chat

    try:
        serve_chat(preset_name, host=host, port=port, db=db)
    except FileNotFoundError as missing:
        print(f"{missing}: materialize lora_adapter first", file=sys.stderr)
        return 1
    return 0


def materialize_command(args: argparse.Namespace) -> int:
    """``darija-assets materialize --select A,B --partition P``: what ``dagster asset
    materialize -m darija_assets`` does, but the run records the code location of
    workspace.yaml, so `make dev` lists it in Overview and Jobs. Returns 1 when it failed."""
    import json

    import dagster as dg

    from darija_assets.launch import materialize

    _ensure_dagster_home()
    run_config = json.loads(args.config_json) if args.config_json else None
    run_id, success = materialize(
        dg.DagsterInstance.get(), args.select, args.partition, run_config=run_config
    )
    print(f"{args.select} [{args.partition}] {'ok' if success else 'FAILED'} (run {run_id})")
    return 0 if success else 1


def chat(preset_name: str, message: str | None) -> int:
    """Talk to the adapter that lora_adapter[preset_name] wrote under the data directory."""
    from darija_assets.storage import Layout
    from darija_assets.training import chat as chat_cli
    from darija_assets.training.presets import get_preset
    from darija_assets.training.tiny import base_model_location

    preset, layout = get_preset(preset_name), Layout()
    adapter = layout.artifact("lora_adapter", preset.name)
    if not (adapter / "adapter_config.json").exists():
        print(
            f"no adapter for {preset.name!r} at {adapter}: materialize lora_adapter first",
            file=sys.stderr,
        )
        return 1
    argv = ["--base", base_model_location(layout, preset), "--adapter", str(adapter)]
    return chat_cli.main(argv + (["--message", message] if message is not None else []))


def cache_command(args: argparse.Namespace) -> int:
    """``darija-assets cache [show|drop]``: counts of the LLM answer cache, or drop a slice.

    ``drop`` without ``--yes`` only says how many answers match (a dry run). Returns
    the exit status: 1 when there is no cache file or ``drop`` got no filter.
    """
    import json

    from darija_assets.llm.base import CONTENT
    from darija_assets.llm.cache import COLUMNS, AnswerCache, cache_path
    from darija_assets.storage import Layout

    path = Path(args.cache) if args.cache else cache_path(Layout())
    if not path.exists():
        print(
            f"no answer cache at {path}: no LLM step has run with this data directory",
            file=sys.stderr,
        )
        return 1
    filters = {c: getattr(args, c, None) for c in COLUMNS}
    with AnswerCache(path) as cache:
        if args.action == "drop":
            if not any(filters[c] for c in ("task", "backend", "prompt_version")):
                print("drop needs --task, --backend or --prompt-version", file=sys.stderr)
                return 1
            chosen = ", ".join(f"{c}={v}" for c, v in filters.items() if v is not None)
            if not args.yes:
                print(
                    f"would drop {cache.count(**filters)} answers ({chosen}) from {path}; "
                    "add --yes to drop them"
                )
                return 0
            print(
                f"dropped {cache.drop(**filters)} answers ({chosen}) from {path}; "
                "the next run asks their questions again"
            )
            return 0
        by = args.by.split(",") if args.by else list(COLUMNS)
        groups = cache.counts(by, **filters)
        claims = cache.claims()
        total = sum(n for _, n in groups)
        reasked = sum(
            n
            for (status, cause), n in cache.counts(["status", "cause"], **filters)
            if status == "rejected" and cause != CONTENT
        )
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(path),
                    "answers": total,
                    "asked_again_next_run": reasked,
                    "groups": [{**dict(zip(by, key)), "answers": n} for key, n in groups],
                    "claims": claims,
                },
                indent=2,
            )
        )
        return 0
    print(f"answer cache {path}: {total} answers")
    table = [[*by, "answers"]] + [
        [v if v is not None else "-" for v in key] + [n] for key, n in groups
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    print(
        f"{reasked} rejections (malformed, transport, unknown cause) are asked again by the "
        "next run; content rejections stay unless the LLM resource sets reask_rejected"
    )
    for c in claims:
        state = "holder gone, will be taken over" if c["gone"] else "in flight"
        print(f"claimed: {c['keys']} question(s) by {c['owner']} ({state})")
    return 0


def list_sources() -> int:
    """Print every source partition and every rejected entry of $DARIJA_SOURCES; return 1
    when the sources file has problems or a file source's file is missing, so scripts and
    CI can check it."""
    from darija_assets.sources import SOURCES_ENV, load_registry

    registry = load_registry()
    print(f"{SOURCES_ENV}={registry.file or '(not set: built-in sources only)'}")
    missing_files = 0
    for source in registry.sources.values():
        where = source.path or source.start_url or "bundled site on 127.0.0.1"
        missing = source.path is not None and not Path(source.path).is_file()
        missing_files += missing
        options = "".join(f" {k}={v}" for k, v in source.extra.items())
        print(f"  {source.name}\t{source.kind}\t{where}{' [file not found]' * missing}{options}")
    for problem in registry.problems:
        print(f"problem: {problem}")
    return 1 if registry.problems or missing_files else 0


def teachers_command(args: argparse.Namespace) -> int:
    """``darija-assets teachers``: per LLM resource of the code location (``llm``,
    ``translator``), every backend with whether it can run here, its limits, what is left
    of today's quota (as the vendor reported it, or as counted here, or unknown), and which
    one ``auto`` would pick. Sends no request and loads no model."""
    from darija_assets.definitions import defs
    from darija_assets.llm.teachers import render, teacher_statuses
    from darija_assets.storage import Layout

    layout = Layout()
    for name in args.resource or ["llm", "translator"]:
        resource = defs.resources[name].process_config_and_initialize()
        env = resource.selection_env()
        statuses = teacher_statuses(
            env, resource.limits_for, resource.open_ledger(layout), model=resource.model
        )
        print(f"== {name}: backend {resource.backend!r}, fallback {resource.fallback} ==")
        print(render(statuses, resource.backend, env))
        print()
    return 0


def main(argv: list[str] | None = None) -> int:
    from darija_assets.partitions import EMOTIONS

    parser = argparse.ArgumentParser(prog="darija-assets", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run-all", help="materialize every asset, in order")
    run.add_argument("--source", action="append", help="source partition(s); default: sample")
    run.add_argument(
        "--emotion", action="append", help=f"emotion partition(s); default: all of {EMOTIONS}"
    )
    run.add_argument("--model", action="append", help="model preset(s); default: tiny")

    materialize = commands.add_parser(
        "materialize",
        help="dagster asset materialize, recorded as a run of the code location (the UI lists it)",
    )
    materialize.add_argument(
        "--select", required=True, help="assets, comma-separated (raw_corpus,clean_text)"
    )
    materialize.add_argument("--partition", help="the partition key (every asset here has one)")
    materialize.add_argument("--config-json", help="run config as JSON, as Dagster's CLI takes it")

    talk = commands.add_parser("chat", help="talk to a trained adapter")
    talk.add_argument("--model", default="tiny", help="model preset whose adapter to load")
    talk.add_argument("--message", help="ask once and exit (default: interactive)")

    web = commands.add_parser("serve", help="a web chat with a trained adapter")
    web.add_argument("--model", default="tiny", help="model preset whose adapter to load")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8765)
    web.add_argument("--db", help="SQLite file (default: <data dir>/chat/<model>.sqlite)")

    from darija_assets.llm.cache import COLUMNS

    answers = commands.add_parser(
        "cache",
        help="counts of the LLM answer cache; drop one task's, backend's or prompt's answers",
    )
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument("--cache", help="the cache file (default: the data directory's)")
    for column in COLUMNS:
        selection.add_argument(
            f"--{column.replace('_', '-')}", dest=column, help=f"only answers with this {column}"
        )
    actions = answers.add_subparsers(dest="action")
    show = actions.add_parser("show", parents=[selection], help="answer counts (the default)")
    show.add_argument(
        "--by", help=f"comma-separated columns to group by (default: all of {','.join(COLUMNS)})"
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    drop = actions.add_parser(
        "drop", parents=[selection], help="drop matching answers (a dry run without --yes)"
    )
    drop.add_argument("--yes", action="store_true", help="really drop them")

    commands.add_parser("sources", help="list the source partitions and rejected entries")

    teachers = commands.add_parser(
        "teachers", help="LLM backends, their limits, today's quota left, auto's pick"
    )
    teachers.add_argument(
        "--resource", action="append", help="llm and/or translator (default: both)"
    )

    from darija_assets.classifier.commands import add_classify_parser

    add_classify_parser(commands)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cache"] and argv[1:2] not in (["show"], ["drop"], ["-h"], ["--help"]):
        argv.insert(1, "show")  # `darija-assets cache [options]` shows
    args = parser.parse_args(argv)
    if args.command == "sources":
        return list_sources()
    if args.command == "run-all":
        from darija_assets.sources import SourceError, get_source

        try:  # Dagster would only say the partition key is unknown
            for name in args.source or ["sample"]:
                get_source(name)
        except SourceError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        failures = run_all(
            args.source or ["sample"], args.emotion or list(EMOTIONS), args.model or ["tiny"]
        )
        return 1 if failures else 0
    if args.command == "materialize":
        return materialize_command(args)
    if args.command == "chat":
        return chat(args.model, args.message)
    if args.command == "serve":
        return serve(args.model, args.host, args.port, args.db)
    if args.command == "cache":
        return cache_command(args)
    if args.command == "teachers":
        return teachers_command(args)
    if args.command == "classify":
        from darija_assets.classifier.commands import classify

        return classify(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
