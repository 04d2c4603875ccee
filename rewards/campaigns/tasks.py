"""Celery tasks of campaigns: they take ids and call services, nothing else."""

from celery import shared_task

from rewards.campaigns import notifications, scheduling


@shared_task(queue="campaigns", acks_late=True)
def release_due_actions_task():
    """Release due delayed actions and deferred triggers, a batch at a time."""
    total = 0
    while done := scheduling.release_due_triggers():
        total += done
    while done := scheduling.release_due_actions():
        total += done
    return total


@shared_task(queue="campaigns", acks_late=True)
def run_scheduled_triggers_task():
    scheduling.advance_statuses()
    return scheduling.run_scheduled_triggers()


@shared_task(queue="messaging", acks_late=True)
def email_team_notification_task(notification_id):
    return notifications.email_team(notification_id)
