"""raw_corpus -> clean_text -> sentences, one partition per source.

The assets only wire things: the crawl itself is a Scrapy project run in a
subprocess (crawler/), cleaning and segmentation are polars code (text/).
"""

from contextlib import nullcontext

import dagster as dg
import polars as pl

from darija_assets import checks
from darija_assets.assets.metadata import (
    fail_if_all_quarantined,
    preview,
    scalar_stats,
    stats_block,
    table_metadata,
    write_quarantine,
)
from darija_assets.partitions import source_partitions, with_source_problems
from darija_assets.resources import CrawlerResource, StorageResource
from darija_assets.schedules import FOLLOW_UPSTREAM
from darija_assets.sources import Source, get_source
from darija_assets.storage import write_parquet
from darija_assets.text.normalize import CleanOptions
from darija_assets.text.segment import SegmentOptions


class CleanConfig(dg.Config):
    keep_digits: bool = CleanOptions.keep_digits
    keep_latin: bool = CleanOptions.keep_latin  # Latin-script Arabizi ("wach nta labas")


class SentenceConfig(dg.Config):
    min_chars: int = SegmentOptions.min_chars
    max_chars: int = SegmentOptions.max_chars


def _acquire(context, source: Source, layout, crawler: CrawlerResource, pipes, previous):
    """New rows of a source, its quarantine rows and stats: a crawl (sample or web
    site) or a file import."""
    if source.kind == "file":
        from darija_assets.text.importers import import_source

        return import_source(source)

    from darija_assets.crawler import runner
    from darija_assets.sample_site import DEFAULT_PORT, serve_sample_site

    work_dir = layout.work("raw_corpus", source.name)
    mode = runner.prepare_work_dir(work_dir)
    # Chapters a finished crawl fetched but no table write kept (killed in between): the
    # crawl skips them and they are merged with its rows, so nothing is fetched twice.
    unwritten = runner.unwritten_rows(work_dir, previous)
    known = runner.write_known_file(previous, work_dir / "known.json", unwritten)
    # The sample site always listens on the same port: chapter urls are the corpus key.
    site = serve_sample_site(port=DEFAULT_PORT) if source.kind == "sample" else nullcontext()
    with site as sample:
        command = runner.crawl_command(
            source=source.name,
            work_dir=work_dir,
            start_url=sample.start_url if sample else source.start_url,
            known_path=known,
            profile=source.profile,
            settings=runner.LOOPBACK_SETTINGS if sample else crawler.setting_overrides(),
        )
        context.log.info("crawl of %s (%s): %s", source.name, mode, " ".join(command))
        pipes.run(context=context, command=command, env=runner.crawl_env()).get_results()
    items, quarantined, stats = runner.collect(work_dir)
    return (
        pl.concat([unwritten, items]),
        quarantined,
        {**stats, "unwritten_merged": unwritten.height},
    )


@dg.asset(
    partitions_def=source_partitions,
    group_name="corpus",
    kinds={"scrapy", "polars"},
    check_specs=checks.partitioned(
        source_partitions,
        [
            checks.spec(
                "raw_corpus", "not_empty", "The crawl or import produced chapters.", blocking=True
            ),
            checks.spec(
                "raw_corpus",
                "no_mojibake",
                "No text decoded with the wrong charset.",
                blocking=True,
            ),
        ],
    ),
)
@with_source_problems
def raw_corpus(
    context: dg.AssetExecutionContext,
    storage: StorageResource,
    crawler: CrawlerResource,
    pipes_subprocess_client: dg.PipesSubprocessClient,
) -> dg.MaterializeResult:
    """Chapters of one source: a resumable, incremental Scrapy crawl (or a file import)."""
    from darija_assets.crawler.runner import merge_corpus
    from darija_assets.text.quality import MOJIBAKE_MAX_SHARE, mojibake_rows

    source = get_source(context.partition_key)
    layout = storage.layout()
    table = layout.table("raw_corpus", source.name)
    previous = pl.read_parquet(table) if table.exists() else None
    new_rows, quarantined, stats = _acquire(
        context, source, layout, crawler, pipes_subprocess_client, previous
    )

    merged, counts = merge_corpus(previous, new_rows)
    write_parquet(merged, table)
    n_quarantined = write_quarantine(layout, "raw_corpus", source.name, quarantined)
    # A file import reads the whole file each time; a re-crawl adds only what is new.
    fail_if_all_quarantined(
        "raw_corpus", new_rows.height if source.kind == "file" else merged.height, quarantined
    )

    # Judged page by page: a site of thousands of pages with one mis-decoded page fails.
    mojibake = mojibake_rows(merged, "raw_text")
    return dg.MaterializeResult(
        metadata={
            "source_kind": source.kind,
            "chapters": merged.height,
            "chapters_new": counts["new"],
            "quarantined": n_quarantined,
            "crawl_requests": stats.get("requests", 0),
            "crawl": stats_block(
                {**{f"chapters_{k}": v for k, v in counts.items()}, **scalar_stats(stats)}
            ),
            **table_metadata(merged, table),
        },
        check_results=[
            checks.not_empty("raw_corpus", merged.height, what="chapters"),
            checks.none_bad(
                "raw_corpus",
                "no_mojibake",
                list(zip(mojibake["url"], mojibake["mojibake_share"])),
                merged.height,
                MOJIBAKE_MAX_SHARE,
                what="chapters",
                measure="a mojibake share",
            ),
        ],
    )


@dg.asset(
    partitions_def=source_partitions,
    deps=[raw_corpus],
    group_name="corpus",
    automation_condition=FOLLOW_UPSTREAM,
    kinds={"polars"},
    check_specs=checks.partitioned(
        source_partitions,
        [
            checks.spec("clean_text", "not_empty", "Cleaning left some text.", blocking=True),
            checks.spec(
                "clean_text",
                "arabic_script_ratio",
                f"At least {checks.MIN_ARABIC_SCRIPT_RATIO:.0%} of the source's letters are Arabic script.",
                blocking=True,
            ),
        ],
    ),
)
def clean_text(
    context: dg.AssetExecutionContext, config: CleanConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """Unicode- and PyArabic-normalised text with links, emojis, markup and noise removed;
    the chat ``speaker`` pseudonym carried through (null for other rows); rows left with
    no letter quarantined with their reason."""
    from darija_assets.text.normalize import clean_frame
    from darija_assets.text.quality import arabic_script_ratio

    layout = storage.layout()
    raw = pl.read_parquet(layout.table("raw_corpus", context.partition_key))
    if "speaker" not in raw.columns:  # tables written before chats carried pseudonyms
        raw = raw.with_columns(pl.lit(None, pl.String).alias("speaker"))
    options = CleanOptions(keep_digits=config.keep_digits, keep_latin=config.keep_latin)
    cleaned, quarantined, stats = clean_frame(raw, options)
    table = write_parquet(cleaned, layout.table("clean_text", context.partition_key))
    n_quarantined = write_quarantine(layout, "clean_text", context.partition_key, quarantined)
    fail_if_all_quarantined("clean_text", cleaned.height, quarantined)

    # Measured on the source text: cleaning keeps Arabic script by construction, so this is
    # what catches a source that is not (or no longer) Arabic-script Darija.
    ratio = arabic_script_ratio(raw["raw_text"]) if raw.height else 0.0
    return dg.MaterializeResult(
        metadata={
            "quarantined": n_quarantined,
            "arabic_script_ratio": stats["arabic_script_ratio"],
            "counts": stats_block(stats),
            **table_metadata(cleaned, table),
        },
        check_results=[
            checks.not_empty("clean_text", cleaned.height),
            checks.at_least(
                "clean_text", "arabic_script_ratio", ratio, checks.MIN_ARABIC_SCRIPT_RATIO
            ),
        ],
    )


@dg.asset(
    partitions_def=source_partitions,
    deps=[clean_text],
    group_name="corpus",
    automation_condition=FOLLOW_UPSTREAM,
    kinds={"polars"},
    check_specs=checks.partitioned(
        source_partitions,
        [
            checks.spec(
                "sentences", "not_empty", "Segmentation produced sentences.", blocking=True
            ),
            checks.spec(
                "sentences",
                "duplicate_ratio",
                f"At most {checks.MAX_DUPLICATE_RATIO:.0%} of split sentences were exact duplicates.",
            ),
        ],
    ),
)
def sentences(
    context: dg.AssetExecutionContext, config: SentenceConfig, storage: StorageResource
) -> dg.MaterializeResult:
    """Sentences with stable content-hash ids, traced to their chapter url, with their
    ``speaker`` (a dialogue label, else the chat pseudonym, else null)."""
    from darija_assets.text.segment import split_sentences

    layout = storage.layout()
    cleaned = pl.read_parquet(layout.table("clean_text", context.partition_key))
    options = SegmentOptions(min_chars=config.min_chars, max_chars=config.max_chars)
    frame, quarantined, stats = split_sentences(cleaned, options)
    table = write_parquet(frame, layout.table("sentences", context.partition_key))
    n_quarantined = write_quarantine(layout, "sentences", context.partition_key, quarantined)
    fail_if_all_quarantined("sentences", frame.height, quarantined)

    split_total = frame.height + stats["duplicates"]
    duplicate_ratio = stats["duplicates"] / split_total if split_total else 0.0
    return dg.MaterializeResult(
        metadata={
            "quarantined": n_quarantined,
            "duplicates": stats["duplicates"],
            "counts": stats_block(stats),
            "preview": preview(frame, ["sentence_id", "sentence", "speaker"]),
            **table_metadata(frame, table),
        },
        check_results=[
            checks.not_empty("sentences", frame.height),
            checks.at_most(
                "sentences",
                "duplicate_ratio",
                duplicate_ratio,
                checks.MAX_DUPLICATE_RATIO,
                severity=dg.AssetCheckSeverity.WARN,
            ),
        ],
    )
