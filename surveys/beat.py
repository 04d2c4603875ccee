"""Periodic tasks of surveys (merged by config.celery). Plain data: no Django imports."""

from celery.schedules import crontab

SCHEDULE = {
    "surveys-send-reminders": {"task": "surveys.tasks.send_survey_reminders_task", "schedule": 900.0},
    "surveys-release-held-invitations": {"task": "surveys.tasks.release_held_invitations_task", "schedule": 900.0},
    "surveys-expire-invitations": {"task": "surveys.tasks.expire_invitations_task", "schedule": crontab(minute=7)},
    "surveys-relationship-samples": {
        "task": "surveys.tasks.run_relationship_surveys_task",
        "schedule": crontab(hour=2, minute=30),
    },
}
