"""One reminder to non-responders, `Survey.reminder_delay_hours` after the send (beat)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from engagement.channels.sending import send_message
from surveys.models import Invitation, Survey
from surveys.sending import REMINDER_TEMPLATE, message_context

REMINDABLE = (Invitation.Status.SENT, Invitation.Status.DELIVERED, Invitation.Status.OPENED)


def send_due_reminders(now=None, limit=500):
    """Send the single reminder of every invitation that is due one; returns how many.

    Due: sent (or delivered/opened) but not answered, not expired, the survey's reminder
    delay passed since the send, never reminded. The claim is a conditional UPDATE on
    reminded_at, so two concurrent sweeps never remind one customer twice; the message is
    written in the same transaction (and delivered by Celery on commit).
    """
    now = now or timezone.now()
    count = 0
    for survey in Survey.objects.filter(is_active=True, reminder_delay_hours__isnull=False):
        due = Invitation.objects.filter(
            survey=survey,
            status__in=REMINDABLE,
            reminded_at__isnull=True,
            invited_at__lte=now - timedelta(hours=survey.reminder_delay_hours),
            expires_at__gt=now,
        ).order_by("id")
        for invitation in due.select_related("customer__program", "survey__program")[:limit]:
            with transaction.atomic():
                claimed = Invitation.objects.filter(pk=invitation.pk, reminded_at__isnull=True).update(reminded_at=now)
                if not claimed:
                    continue
                message = send_message(
                    customer=invitation.customer,
                    channel=invitation.channel,
                    template_key=REMINDER_TEMPLATE,
                    context=message_context(invitation),
                    source="surveys",
                    idempotency_key=f"survey-reminder-{invitation.pk}",
                )
                Invitation.objects.filter(pk=invitation.pk).update(reminder_message_id=message.pk)
                count += 1
    return count
