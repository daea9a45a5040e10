"""Materialize assets in a process of their own, so the code location loads the file sources
of $DARIJA_SOURCES the way `dagster` does (the source partitions are read when the package
is imported, so a test process that imported it earlier cannot add sources).

``python materialize_child.py '<json>'`` with ``assets`` (names), ``partition``, and
optionally ``run_config`` and ``llm`` / ``translator`` (LLMResource fields, e.g. a vendor
pointed at the test's stub server). Runs in the instance of $DAGSTER_HOME, and prints one
JSON line: each asset's scalar materialization metadata and each check's outcome.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    spec = json.loads(sys.argv[1])
    import dagster as dg

    from darija_assets.definitions import defs
    from darija_assets.resources import CrawlerResource, LLMResource, StorageResource

    assets = [defs.get_assets_def(dg.AssetKey(name)) for name in spec["assets"]]
    resources = {
        "storage": StorageResource(),
        "crawler": CrawlerResource(),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
        **{key: LLMResource(**spec[key]) for key in ("llm", "translator") if key in spec},
    }
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            assets,
            partition_key=spec["partition"],
            instance=instance,
            run_config=spec.get("run_config"),
            resources=resources,
        )
    out = {
        "metadata": {
            event.asset_key.to_user_string(): {
                key: value.value
                for key, value in event.materialization.metadata.items()
                if isinstance(value.value, str | int | float | bool)
            }
            for event in result.get_asset_materialization_events()
        },
        "checks": {
            check.check_name: check.passed for check in result.get_asset_check_evaluations()
        },
    }
    print(json.dumps(out, default=str, ensure_ascii=False))


if __name__ == "__main__":
    main()
