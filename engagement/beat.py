"""Periodic tasks of engagement (merged by config.celery). Plain data: no Django imports."""

from celery.schedules import crontab

SCHEDULE = {
    "engagement-sweep-unprocessed-events": {"task": "engagement.tasks.sweep_unprocessed_events_task", "schedule": 60.0},
    "engagement-purge-idempotency-keys": {
        "task": "engagement.tasks.purge_idempotency_keys_task",
        "schedule": crontab(minute=17),
    },
}
