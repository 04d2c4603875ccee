"""Celery tasks of surveys: they take ids and call services (STYLE.md)."""

from celery import shared_task

from surveys import reminders, sending, statuses
from surveys.models import Survey
from surveys.relationship import due_relationship_surveys, send_relationship_sample


@shared_task(queue="messaging")
def send_survey_reminders_task():
    return reminders.send_due_reminders()


@shared_task(queue="messaging")
def release_held_invitations_task():
    return sending.release_held_invitations()


@shared_task(queue="default")
def expire_invitations_task():
    return statuses.expire_due_invitations()


@shared_task(queue="campaigns")
def send_relationship_sample_task(survey_id, segment=None, percent=None):
    """Idempotent per survey period (see send_relationship_sample); a deleted survey is a no-op."""
    survey = Survey.objects.select_related("program").filter(pk=survey_id).first()
    if survey is None:
        return None
    result = send_relationship_sample(survey, segment=segment, percent=percent)
    return {"eligible": result.eligible, "sampled": result.sampled, **result.outcomes}


@shared_task(queue="default")
def run_relationship_surveys_task():
    """Beat: start the sample of every relationship survey whose period has come round."""
    due = due_relationship_surveys()
    for survey in due:
        send_relationship_sample_task.delay(survey.pk)
    return len(due)
