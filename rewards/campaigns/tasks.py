"""Celery tasks of campaigns: they take ids and call services, nothing else."""

from celery import shared_task
from django.db import OperationalError, transaction

from rewards.campaigns import engine, notifications, scheduling


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


@shared_task(
    queue="campaigns",
    acks_late=True,
    # A deadlock or a lost connection rolls the whole pass back: run it again (effects
    # already recorded are never granted twice).
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def evaluate_events_task(program_id, event_ids):
    """Evaluate campaigns over stored events again (a replay or a backfill). Safe to repeat
    and to run concurrently: effects already recorded are never granted again."""
    with transaction.atomic():
        engine.handle_events(program_id, event_ids)
