"""Periodic tasks of engagement (merged by config.celery). Plain data: no Django imports."""

from celery.schedules import crontab

SCHEDULE = {
    "engagement-sweep-unprocessed-events": {"task": "engagement.tasks.sweep_unprocessed_events_task", "schedule": 60.0},
    # The ingest backlog counter (engagement.backlog) set from the database's count.
    "engagement-reconcile-ingest-backlog": {
        "task": "engagement.tasks.reconcile_ingest_backlog_task",
        "schedule": 60.0,
    },
    "engagement-purge-idempotency-keys": {
        "task": "engagement.tasks.purge_idempotency_keys_task",
        "schedule": crontab(minute=17),
    },
    # Monthly partitions of the events table, created ahead (engagement.partitions).
    "engagement-ensure-event-partitions": {
        "task": "engagement.tasks.ensure_event_partitions_task",
        "schedule": crontab(minute=41),
    },
    # Retention of raw events (engagement.retention): nothing while EVENTS_RETENTION_MONTHS
    # is unset. Before the nightly re-score, after the hourly partition task's minute.
    "engagement-apply-event-retention": {
        "task": "engagement.tasks.apply_event_retention_task",
        "schedule": crontab(hour=0, minute=50),
    },
}

# Scoring and metric snapshots: a nightly full re-score (which also writes the day's score
# snapshot), the incremental re-score of customers with new events every 2 minutes, and the
# daily metric snapshot (yesterday, trailing window) per program.
SCHEDULE.update(
    {
        "engagement-rescore-all-programs": {
            "task": "engagement.tasks.rescore_all_programs_task",
            "schedule": crontab(hour=1, minute=5),
        },
        "engagement-rescore-queued-customers": {
            "task": "engagement.tasks.rescore_queued_customers_task",
            "schedule": 120.0,
        },
        "engagement-snapshot-metrics": {
            "task": "engagement.tasks.snapshot_all_metrics_task",
            "schedule": crontab(hour=0, minute=35),
        },
    }
)

# Purchase models (BG/NBD, Gamma-Gamma): weekly, Monday night after the nightly re-score.
SCHEDULE["engagement-fit-purchase-models"] = {
    "task": "engagement.tasks.fit_all_models_task",
    "schedule": crontab(hour=2, minute=15, day_of_week=1),
}

# Daily metric totals (engagement.metrics.rollup): hourly, so yesterday is built soon after
# midnight UTC and days dirtied by late events, erasure or retention are rebuilt within the hour.
SCHEDULE["engagement-build-metric-rollups"] = {
    "task": "engagement.tasks.build_metric_rollups_task",
    "schedule": crontab(minute=23),
}
