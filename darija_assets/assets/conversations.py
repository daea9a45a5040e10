"""conversations[source]: chat exports and therapy sessions as turns and training examples.

The work lives in darija_assets/conversations/ (reading, context selection, example
building); this module wires storage and metadata. A source that holds no conversations (a
crawled site, a plain text or record file) is materialized empty, with the reason in its
metadata, so materializing every source partition never fails on it.
"""

import dagster as dg
import polars as pl

from darija_assets.assets.corpus import raw_corpus
from darija_assets.assets.metadata import distribution, preview, scalar_stats, write_quarantine
from darija_assets.partitions import source_partitions, with_source_problems
from darija_assets.resources import StorageResource
from darija_assets.sources import get_source
from darija_assets.storage import write_parquet

#: the examples table's asset name under the data directory (turns are "conversations")
EXAMPLES_TABLE = "conversation_examples"


@dg.asset(
    partitions_def=source_partitions,
    deps=[raw_corpus],
    group_name="conversations",
    kinds={"polars"},
)
@with_source_problems
def conversations(
    context: dg.AssetExecutionContext, storage: StorageResource
) -> dg.MaterializeResult:
    """Turns of a source's conversations (WhatsApp export: one chat; session file: one
    conversation per session) with speaker pseudonyms, roles, timestamps and file/line
    provenance, and the training examples its ``conversations`` options ask for (chat replies
    with window or retrieval context, or session windows)."""
    from darija_assets.conversations.examples import build_examples, examples_frame
    from darija_assets.conversations.turns import TURN_SCHEMA, NotConversations, read_turns
    from darija_assets.training.dataset import length_summary

    source = get_source(context.partition_key)
    layout = storage.layout()
    turns_table = layout.table("conversations", source.name)
    examples_table = layout.table(EXAMPLES_TABLE, source.name)
    try:
        turns = read_turns(source)
    except NotConversations as skipped:
        write_parquet(pl.DataFrame(schema=TURN_SCHEMA), turns_table)
        write_parquet(examples_frame([], "fold"), examples_table)
        context.log.info("conversations[%s] skipped: %s", source.name, skipped)
        return dg.MaterializeResult(
            metadata={"skipped": str(skipped), "conversations": 0, "turns": 0, "examples": 0}
        )
    examples, dropped = build_examples(turns.frame, turns.options, turns.stats["style"])
    frame = examples_frame(examples, turns.options.users)
    write_parquet(turns.frame, turns_table)
    write_parquet(frame, examples_table)
    n_quarantined = write_quarantine(layout, "conversations", source.name, turns.quarantine)
    context_lengths = length_summary(frame["context_turns"].to_list())
    stats = {k: v for k, v in turns.stats.items() if k not in ("path", "rows_out")}
    return dg.MaterializeResult(
        metadata={
            "conversations": turns.frame["conversation_id"].n_unique(),
            "turns": turns.frame.height,
            "speakers": turns.frame["speaker"].n_unique(),
            "examples": frame.height,
            "quarantined_lines": n_quarantined,
            **scalar_stats(stats, prefix="import_"),
            **scalar_stats(
                {k: v for k, v in context_lengths.items() if v is not None},
                prefix="context_turns_",
            ),
            "dropped": distribution(dict(dropped), label="reason"),
            **{f"dropped_{reason}": count for reason, count in dropped.items()},
            "examples_preview": preview(frame, ["example_id", "context_turns", "turns"], n=5),
            "path": dg.MetadataValue.path(str(turns_table)),
            "examples_path": dg.MetadataValue.path(str(examples_table)),
        }
    )
