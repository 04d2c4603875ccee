"""Periodic webhook work (merged into the beat schedule by config/celery.py)."""

SCHEDULE = {
    "webhooks-sweep": {
        "task": "engagement.webhooks.tasks.sweep_webhook_deliveries_task",
        "schedule": 60.0,
        "options": {"queue": "webhooks"},
    },
}
