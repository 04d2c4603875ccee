"""Consent, quiet hours, the contact caps and gap, max hold, the WhatsApp window (frozen clock)."""

import datetime as dt

import pytest
import time_machine

from engagement.channels import policy
from engagement.channels.models import ContactPolicy, Message, MessageTemplate
from engagement.channels.sending import send_message
from engagement.channels.sweep import release_held_messages
from engagement.channels.tasks import deliver_messages_task

KL = dt.timezone(dt.timedelta(hours=8))  # Asia/Kuala_Lumpur has no DST


def kl(day, hour, minute=0):
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=KL)


def _send(customer, channel="email", **kwargs):
    return send_message(
        customer=customer, channel=channel, template_key="generic", context={"subject": "S", "body": "B"}, **kwargs
    )


@pytest.fixture
def quiet_acme(acme):
    acme.quiet_hours_start = dt.time(22, 0)
    acme.quiet_hours_end = dt.time(8, 0)
    acme.save()
    return acme


def test_no_consent_is_skipped_and_never_sent(alice, django_capture_on_commit_callbacks):
    alice.consent_email = False
    alice.save()
    with django_capture_on_commit_callbacks() as callbacks:
        message = _send(alice)
    assert (message.status, message.reason) == ("skipped", "no_consent")
    assert Message.objects.filter(customer=alice).count() == 1
    assert callbacks == []


def test_no_phone_is_skipped_no_address(alice):
    alice.consent_sms = True
    alice.save()
    assert (_send(alice, "sms").status, _send(alice, "sms").reason) == ("skipped", "no_address")


def test_unknown_channel_raises_and_records_nothing(alice):
    with pytest.raises(ValueError):
        _send(alice, "pigeon")
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("local_now", "held_until"),
    [
        (kl(2, 23, 30), kl(3, 8)),  # before midnight: held until tomorrow 08:00
        (kl(3, 1, 15), kl(3, 8)),  # after midnight: held until today 08:00
        (kl(3, 7, 59), kl(3, 8)),
        (kl(3, 8, 0), None),  # the end is outside
        (kl(3, 21, 59), None),
    ],
)
def test_quiet_hours_across_midnight_in_the_customer_timezone(quiet_acme, alice, local_now, held_until):
    with time_machine.travel(local_now, tick=False):
        message = _send(alice)
    if held_until is None:
        assert (message.status, message.reason) == ("queued", "")
    else:
        assert (message.status, message.reason, message.send_after) == ("held", "quiet_hours", held_until)


def test_quiet_hours_use_the_customer_own_timezone(quiet_acme, alice):
    alice.timezone = "Asia/Dubai"  # UTC+4: 23:00 in Kuala Lumpur is 19:00 in Dubai
    alice.save()
    with time_machine.travel(kl(2, 23), tick=False):
        assert _send(alice).status == "queued"
    with time_machine.travel(kl(3, 3), tick=False):  # 23:00 in Dubai
        message = _send(alice)
    assert (message.status, message.send_after) == (
        "held",
        dt.datetime(2026, 3, 3, 8, tzinfo=dt.timezone(dt.timedelta(hours=4))),
    )


def test_same_day_quiet_window(acme, alice):
    acme.quiet_hours_start, acme.quiet_hours_end = dt.time(13, 0), dt.time(14, 0)
    acme.save()
    with time_machine.travel(kl(3, 13, 30), tick=False):
        assert _send(alice).send_after == kl(3, 14)
    with time_machine.travel(kl(3, 12, 59), tick=False):
        assert _send(alice).status == "queued"


def test_held_message_is_released_by_the_sweep_when_quiet_hours_end(quiet_acme, alice, status_log):
    with time_machine.travel(kl(2, 23), tick=False):
        message = _send(alice, transactional=True)  # transactional messages wait too
        assert release_held_messages() == (0, 0)
    with time_machine.travel(kl(3, 8, 1), tick=False):
        assert release_held_messages() == (1, 0)
        assert Message.objects.get(pk=message.pk).status == "queued"
        assert deliver_messages_task([message.pk]) == ["sent"]
    message.refresh_from_db()
    assert (message.status, message.sent_at) == ("sent", kl(3, 8, 1))
    assert status_log == [(message.pk, "sent")]


def _deliver_all(customer):
    ids = list(Message.objects.filter(customer=customer, status="queued").values_list("pk", flat=True))
    return deliver_messages_task(ids)


def test_daily_cap_holds_until_the_oldest_contact_leaves_the_window(acme, alice):
    ContactPolicy.objects.create(program=acme, max_per_day=2, max_per_week=0, max_per_month=0)
    with time_machine.travel(kl(3, 9), tick=False):
        first = _send(alice)
        assert _deliver_all(alice) == ["sent"]
    with time_machine.travel(kl(3, 10), tick=False):
        _send(alice)
        assert _deliver_all(alice) == ["sent"]
        third = _send(alice)
        transactional = _send(alice, transactional=True)
    assert (third.status, third.reason, third.reason_detail) == ("held", "contact_cap", "2 per day reached")
    assert third.send_after == kl(4, 9)  # 24 h after the first contact
    assert transactional.status == "queued"  # exempt from the caps
    assert Message.objects.get(pk=first.pk).contact_at == kl(3, 9)


def test_weekly_and_monthly_caps(acme, alice):
    ContactPolicy.objects.create(program=acme, max_per_day=0, max_per_week=2, max_per_month=3)
    for day in (1, 2, 9):
        with time_machine.travel(kl(day, 12), tick=False):
            _send(alice)
            assert _deliver_all(alice) == ["sent"]
    with time_machine.travel(kl(10, 12), tick=False):
        decision = policy.check_send(alice, "email")
    # weekly: 1 contact (9th) in the last 7 days, fine; monthly: 3 in 30 days, full
    assert (decision.status, decision.reason, decision.detail) == ("held", "contact_cap", "3 per month reached")
    assert decision.retry_at == kl(31, 12)


def test_min_gap_between_messages_on_any_channel(acme, alice):
    ContactPolicy.objects.create(program=acme, min_gap_minutes=90)
    with time_machine.travel(kl(3, 12), tick=False):
        _send(alice)
        assert _deliver_all(alice) == ["sent"]
    with time_machine.travel(kl(3, 13), tick=False):
        message = _send(alice)
    assert (message.status, message.reason, message.send_after) == ("held", "min_gap", kl(3, 13, 30))


def test_cap_is_rechecked_when_a_worker_claims(acme, alice):
    # two messages pass the check at once (both queued), the claim lets only one through
    ContactPolicy.objects.create(program=acme, max_per_day=1)
    with time_machine.travel(kl(3, 12), tick=False):
        first = _send(alice, idempotency_key="a")
        Message.objects.filter(pk=first.pk).update(status="held")  # invisible to the sender's count
        second = _send(alice, idempotency_key="b")
        Message.objects.filter(pk=first.pk).update(status="queued")
        assert deliver_messages_task([first.pk, second.pk]) == ["sent", None]
    second.refresh_from_db()
    assert (second.status, second.reason, second.send_after) == ("held", "contact_cap", kl(4, 12))


def test_held_too_long_is_dropped_with_the_reason_kept(acme, alice, status_log):
    ContactPolicy.objects.create(program=acme, max_per_day=1, max_hold_hours=6)
    with time_machine.travel(kl(3, 12), tick=False):
        first = _send(alice)
        _deliver_all(alice)
        held = _send(alice)
    assert (held.status, held.send_after) == ("held", kl(3, 18))  # capped at the max hold
    with time_machine.travel(kl(3, 18), tick=False):
        assert release_held_messages() == (0, 1)
    held.refresh_from_db()
    assert (held.status, held.reason, held.reason_detail) == (
        "dropped",
        "contact_cap",
        "held past the maximum hold time",
    )
    assert status_log == [(first.pk, "sent"), (held.pk, "dropped")]


def test_whatsapp_only_within_24_hours_of_the_last_inbound_message(alice):
    alice.phone, alice.consent_whatsapp = "+60111", True
    alice.save()
    with time_machine.travel(kl(3, 12), tick=False):
        assert _send(alice, "whatsapp").reason == "whatsapp_window"
        alice.last_inbound_message_at = kl(2, 12, 1)
        alice.save()
        assert _send(alice, "whatsapp").status == "queued"
        alice.last_inbound_message_at = kl(2, 11, 59)
        alice.save()
        skipped = _send(alice, "whatsapp")
        assert (skipped.status, skipped.reason) == ("skipped", "whatsapp_window")
        assert policy.check_send(alice, "whatsapp", template_key="generic").reason == "whatsapp_window"
        # a pre-approved template may go any time
        MessageTemplate.objects.create(
            program=alice.program, key="generic", channel="whatsapp", locale="en", body="Hi", pre_approved=True
        )
        assert policy.check_send(alice, "whatsapp", template_key="generic").allowed is True
        assert _send(alice, "whatsapp").status == "queued"


def test_not_before_holds_until_then(alice):
    with time_machine.travel(kl(3, 12), tick=False):
        message = _send(alice, not_before=kl(10, 12))
    assert (message.status, message.reason, message.send_after, message.due_at) == (
        "held",
        "not_before",
        kl(10, 12),
        kl(10, 12),
    )
    with time_machine.travel(kl(10, 12), tick=False):
        assert release_held_messages() == (1, 0)
        assert deliver_messages_task([message.pk]) == ["sent"]


def test_consent_withdrawn_before_the_claim_drops_the_message(alice, status_log):
    message = _send(alice)
    alice.consent_email = False
    alice.save()
    assert deliver_messages_task([message.pk]) == [None]
    message.refresh_from_db()
    assert (message.status, message.reason) == ("dropped", "no_consent")
    assert status_log == [(message.pk, "dropped")]


def test_idempotency_key_returns_the_first_message(alice, bob):
    first = _send(alice, idempotency_key="survey:1:alice")
    again = _send(alice, idempotency_key="survey:1:alice")
    other_program_key = _send(bob, idempotency_key="survey:1:bob")
    assert again.pk == first.pk
    assert other_program_key.pk != first.pk
    assert Message.objects.count() == 2


def test_check_send_reads_only_and_explains(quiet_acme, alice):
    with time_machine.travel(kl(2, 23), tick=False):
        decision = policy.check_send(alice, "email")
        assert (decision.allowed, decision.status, decision.reason, decision.retry_at) == (
            False,
            "held",
            "quiet_hours",
            kl(3, 8),
        )
        assert policy.check_send(alice, "sms").reason == "no_consent"
    with time_machine.travel(kl(3, 9), tick=False):
        assert policy.check_send(alice, "email").allowed is True
    assert Message.objects.count() == 0


def test_beat_runs_the_sweep_every_minute():
    from config.celery import build_beat_schedule

    assert build_beat_schedule()["channels-sweep-messages"] == {
        "task": "engagement.channels.tasks.sweep_messages_task",
        "schedule": 60.0,
    }


def test_not_before_wins_over_a_hold_that_ends_earlier(quiet_acme, alice):
    with time_machine.travel(kl(2, 23), tick=False):  # quiet hours until 08:00 tomorrow
        message = _send(alice, not_before=kl(9, 12))
    assert (message.status, message.reason, message.send_after) == ("held", "not_before", kl(9, 12))
    with time_machine.travel(kl(3, 8, 30), tick=False):
        assert release_held_messages() == (0, 0)
