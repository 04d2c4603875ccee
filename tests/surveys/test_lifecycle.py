"""Invitation statuses from channel callbacks, reminders and expiry (beat services)."""

from datetime import UTC, datetime, timedelta

import time_machine

from engagement.channels.hooks import run_status_handlers
from engagement.channels.models import Message
from surveys.models import Invitation
from surveys.reminders import send_due_reminders
from surveys.statuses import expire_due_invitations
from tests.surveys.factories import make_survey

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def status_of(invitation):
    invitation.refresh_from_db()
    return invitation.status


def test_channel_statuses_move_the_invitation_forward_only(nps, alice, send):
    with time_machine.travel(T0, tick=False):
        invitation = send(nps, alice).invitation
        run_status_handlers(invitation.message_id, "sent")
    assert status_of(invitation) == "sent"
    assert invitation.sent_at == T0
    run_status_handlers(invitation.message_id, "delivered")
    assert status_of(invitation) == "delivered"
    Invitation.objects.filter(pk=invitation.pk).update(status="opened")
    # A late duplicate callback never moves an opened invitation back.
    run_status_handlers(invitation.message_id, "delivered")
    run_status_handlers(invitation.message_id, "sent")
    assert status_of(invitation) == "opened"


def test_failed_or_dropped_message_fails_the_invitation(nps, csat, alice, bob, send):
    first = send(nps, alice).invitation
    second = send(csat, bob).invitation
    run_status_handlers(first.message_id, "failed")
    run_status_handlers(second.message_id, "dropped")
    assert (status_of(first), first.failure_reason) == ("failed", "failed")
    assert (status_of(second), second.failure_reason) == ("failed", "dropped")


def test_one_reminder_after_the_delay_to_non_responders_only(acme, alice, bob, send):
    survey = make_survey(acme, "nps", reminder_delay_hours=72)
    with time_machine.travel(T0, tick=False):
        pending = send(survey, alice).invitation
        answered = send(survey, bob).invitation
    Invitation.objects.filter(pk=pending.pk).update(status="delivered", sent_at=T0)
    Invitation.objects.filter(pk=answered.pk).update(status="answered", sent_at=T0, answered_at=T0)

    # Before the delay: nothing.
    with time_machine.travel(T0 + timedelta(hours=71, minutes=59), tick=False):
        assert send_due_reminders() == 0
    with time_machine.travel(T0 + timedelta(hours=72), tick=False):
        assert send_due_reminders() == 1
        # A second sweep never reminds twice.
        assert send_due_reminders() == 0
    pending.refresh_from_db()
    assert pending.reminded_at == T0 + timedelta(hours=72)
    reminder = Message.objects.get(pk=pending.reminder_message_id)
    assert (reminder.template_key, reminder.customer_id, reminder.channel) == ("survey_reminder", alice.pk, "email")
    assert reminder.subject == "Reminder: Acme would value your answer"
    assert Message.objects.filter(template_key="survey_reminder").count() == 1
    # The reminder's own "sent" callback does not touch the invitation.
    run_status_handlers(reminder.pk, "failed")
    assert status_of(pending) == "delivered"


def test_no_reminder_when_disabled_or_expired(acme, alice, bob, send):
    silent = make_survey(acme, "nps", reminder_delay_hours=None)
    short = make_survey(acme, "csat", reminder_delay_hours=24, link_validity_days=1)
    with time_machine.travel(T0, tick=False):
        one = send(silent, alice).invitation
        two = send(short, bob).invitation
    Invitation.objects.filter(pk__in=[one.pk, two.pk]).update(status="sent", sent_at=T0)
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert send_due_reminders() == 0
    assert Message.objects.filter(template_key="survey_reminder").count() == 0


def test_expiry_sweep_expires_unanswered_invitations_only(nps, csat, alice, bob, send):
    with time_machine.travel(T0, tick=False):
        open_one = send(nps, alice).invitation
        done = send(csat, bob).invitation
    Invitation.objects.filter(pk=done.pk).update(status="answered")

    assert expire_due_invitations(now=T0 + timedelta(days=13)) == 0
    assert expire_due_invitations(now=T0 + timedelta(days=14)) == 1
    assert (status_of(open_one), status_of(done)) == ("expired", "answered")
