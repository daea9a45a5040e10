"""`darija-assets`: run the whole asset graph from a terminal, or talk to an adapter.

    darija-assets run-all                 every asset on the embedded defaults
    darija-assets run-all --source 9esa   the live site instead of the bundled one
    darija-assets chat --model tiny       talk to the adapter trained for a preset

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


def _ensure_dagster_home() -> Path:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    bundled = Path(__file__).resolve().parent.parent / "dagster.yaml"
    if not instance_config.exists() and bundled.exists():
        shutil.copyfile(bundled, instance_config)
    return home


def run_all(sources: list[str], emotions: list[str], models: list[str]) -> int:
    """Materialize the graph in dependency order: each source, then each emotion, then
    each model preset. Returns the number of failed runs."""
    import dagster as dg

    from darija_assets.definitions import defs

    home = _ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    plan = [("corpus_job", p) for p in sources]
    plan += [("therapy_job", p) for p in emotions]
    plan += [("training_job", p) for p in models]

    failures = 0
    for job_name, partition in plan:
        print(f"==> {job_name} [{partition}]", flush=True)
        result = defs.get_job_def(job_name).execute_in_process(
            partition_key=partition, instance=instance, raise_on_error=False
        )
        status = "ok" if result.success else "FAILED"
        failures += not result.success
        print(f"<== {job_name} [{partition}] {status} (run {result.run_id})", flush=True)
    print(f"\n{len(plan) - failures}/{len(plan)} runs succeeded; runs are in {home}.")
    print("Browse them with: make dev   (then open http://127.0.0.1:3000)")
    return failures


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


def list_sources() -> int:
    """Print every source partition and every rejected entry of $DARIJA_SOURCES; return 1
    when the sources file has problems, so scripts and CI can check it."""
    from darija_assets.sources import SOURCES_ENV, load_registry

    registry = load_registry()
    print(f"{SOURCES_ENV}={registry.file or '(not set: built-in sources only)'}")
    for source in registry.sources.values():
        where = source.path or source.start_url or "bundled site on 127.0.0.1"
        missing = " [file not found]" if source.path and not Path(source.path).is_file() else ""
        options = "".join(f" {k}={v}" for k, v in source.extra.items())
        print(f"  {source.name}\t{source.kind}\t{where}{missing}{options}")
    for problem in registry.problems:
        print(f"problem: {problem}")
    return 1 if registry.problems else 0


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

    talk = commands.add_parser("chat", help="talk to a trained adapter")
    talk.add_argument("--model", default="tiny", help="model preset whose adapter to load")
    talk.add_argument("--message", help="ask once and exit (default: interactive)")

    commands.add_parser("sources", help="list the source partitions and rejected entries")

    args = parser.parse_args(argv)
    if args.command == "sources":
        return list_sources()
    if args.command == "run-all":
        failures = run_all(
            args.source or ["sample"], args.emotion or list(EMOTIONS), args.model or ["tiny"]
        )
        return 1 if failures else 0
    if args.command == "chat":
        return chat(args.model, args.message)
    return 2


if __name__ == "__main__":
    sys.exit(main())
