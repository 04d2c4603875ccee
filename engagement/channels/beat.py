"""Periodic tasks of channels (merged by config.celery). Plain data: no Django imports."""

SCHEDULE = {
    "channels-sweep-messages": {"task": "engagement.channels.tasks.sweep_messages_task", "schedule": 60.0},
}
