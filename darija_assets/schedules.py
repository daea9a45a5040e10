"""Daily re-crawls of web sources. Off by default in the UI, as Dagster does; turn
it on in Automation. Each run crawls one source partition and carries its change
down to teacher_labels; the incremental crawl fetches only new or changed chapters."""

from __future__ import annotations

import dagster as dg

from darija_assets.sources import load_sources


def build_recrawl_schedule(corpus_job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_recrawl",
        cron_schedule="0 3 * * *",
        job=corpus_job,
        execution_timezone="Africa/Casablanca",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Re-crawl every web source marked recrawl=True, one run per source.",
    )
    def daily_recrawl(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for source in load_sources().values():
            if source.recrawl:
                yield dg.RunRequest(
                    run_key=f"recrawl-{source.name}-{day}",
                    partition_key=source.name,
                    tags={"darija/trigger": "daily_recrawl"},
                )

    return daily_recrawl
