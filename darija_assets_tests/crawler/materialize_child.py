"""Materialize raw_corpus[<partition>] through the code location's Dagster job, in its own process.

``python materialize_child.py <partition> [--die-before-write]``: with the flag, the process
kills itself with SIGKILL at the moment raw_corpus would write its table, i.e. after the
crawl subprocess finished and before anything was written: the window a kill -9 can hit.
Without it, prints the materialization's metadata as one JSON line. The environment names
the data directory and the sources file (DARIJA_DATA_DIR, DARIJA_SOURCES).
"""

from __future__ import annotations

import json
import os
import signal
import sys

#: no politeness delay: the site is on loopback
LOOPBACK_CRAWLER = {
    "download_delay": 0.0,
    "autothrottle": False,
    "concurrent_requests_per_domain": 8,
}


def main() -> None:
    partition = sys.argv[1]
    from darija_assets.assets import corpus

    if "--die-before-write" in sys.argv:
        write_parquet = corpus.write_parquet

        def die_before_the_table(frame, target):
            if target.parent.name == "raw_corpus" and target.parent.parent.name == "tables":
                os.kill(os.getpid(), signal.SIGKILL)
            return write_parquet(frame, target)

        corpus.write_parquet = die_before_the_table

    import dagster as dg

    from darija_assets.definitions import defs

    result = defs.resolve_job_def("corpus_job").execute_in_process(
        partition_key=partition,
        asset_selection=[dg.AssetKey("raw_corpus")],
        run_config={"resources": {"crawler": {"config": LOOPBACK_CRAWLER}}},
    )
    [materialization] = result.asset_materializations_for_node("raw_corpus")
    # the scalar entries: tables and schemas are Dagster records, not JSON
    metadata = {
        key: entry.value
        for key, entry in materialization.metadata.items()
        if isinstance(entry.value, (int, float, str, bool))
    }
    print(json.dumps(metadata, default=str))


if __name__ == "__main__":
    main()
