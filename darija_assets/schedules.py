"""Daily re-crawls of web sources, and the automation that carries a re-crawl downstream.

Both are off by default in the UI, as Dagster does; turn them on in Automation. Each
scheduled run crawls one source partition and carries its change down to teacher_labels;
the incremental crawl fetches only new or changed chapters. With ``corpus_automation``
on, any new raw_corpus partition (a re-crawl, an import, a run from the CLI) flows through
clean_text, sentences and teacher_labels by itself: those assets carry
:data:`FOLLOW_UPSTREAM`. Assets further down (pairs, training) are left to people, since
they spend LLM quota and GPU time; give them the same condition to opt in."""

from __future__ import annotations

import dagster as dg

from darija_assets.sources import load_sources

#: materialize a partition after its upstream partition was (re)materialized, once the
#: upstream is not itself in progress (Dagster's eager condition)
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """The sensor that evaluates :data:`FOLLOW_UPSTREAM` (stopped by default)."""
    return dg.AutomationConditionSensorDefinition(
        "corpus_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Carries a new raw_corpus partition through clean_text, sentences and "
        "teacher_labels (the assets with an automation condition).",
    )


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
