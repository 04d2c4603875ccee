"""Periodic tasks of campaigns (merged by config.celery). Plain data: no Django imports."""

SCHEDULE = {
    # Delayed actions and deferred triggers ("no purchase within 15 minutes") are rows with a
    # due time; this sweep releases them, so a minute is the resolution of every delay.
    "campaigns-release-due": {"task": "rewards.campaigns.tasks.release_due_actions_task", "schedule": 60.0},
    # Start/end dates, inactivity, birthdays (each customer's time zone) and schedules.
    "campaigns-scheduled-triggers": {"task": "rewards.campaigns.tasks.run_scheduled_triggers_task", "schedule": 900.0},
}
