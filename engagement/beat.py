"""Periodic tasks of engagement (merged by config.celery). Plain data: no Django imports."""

from celery.schedules import crontab

SCHEDULE = {
    "engagement-sweep-unprocessed-events": {"task": "engagement.tasks.sweep_unprocessed_events_task", "schedule": 60.0},
    "engagement-purge-idempotency-keys": {
        "task": "engagement.tasks.purge_idempotency_keys_task",
        "schedule": crontab(minute=17),
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
