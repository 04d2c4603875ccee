from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from engagement.channels.models import Message
from surveys.models import Invitation, SendSkip, SurveySettings
from surveys.sending import release_held_invitations, send_survey
from surveys.tokens import sign_invitation
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Kuala Lumpur: no quiet hours


@time_machine.travel(T0, tick=False)
def test_send_creates_a_queued_invitation_and_its_channel_message(nps, alice, send):
    result = send(nps, alice)

    invitation = result.invitation
    assert result.skipped_reason == ""
    assert (invitation.status, invitation.channel, invitation.locale, invitation.source) == (
        "queued",
        "email",
        "en",
        "api",
    )
    assert invitation.invited_at == T0
    assert invitation.expires_at == T0 + timedelta(days=14)
    message = Message.objects.get(pk=invitation.message_id)
    assert (message.template_key, message.to_address, message.status) == (
        "survey_invitation",
        "alice@example.com",
        "queued",
    )
    assert "http://127.0.0.1:8000/s/" + sign_invitation(invitation) + "/" in message.body
    assert message.subject == "Acme: a quick question for you"
    assert "How likely are you to recommend Acme to a friend or colleague?" in message.body


def test_link_token_is_unguessable_and_signed(nps, alice, send):
    invitation = send(nps, alice).invitation
    signed = sign_invitation(invitation)
    assert len(invitation.token) == 43  # 256 random bits, URL-safe base64
    assert signed.startswith(f"{acme_id(invitation)}.{invitation.token}~")


def acme_id(invitation):
    return invitation.program_id


def test_same_idempotency_key_returns_the_first_invitation(nps, alice, send):
    first = send(nps, alice, idempotency_key="campaign-7-alice")
    again = send(nps, alice, idempotency_key="campaign-7-alice")

    assert again.invitation.pk == first.invitation.pk
    assert again.created is False
    assert Invitation.objects.count() == 1
    assert Message.objects.count() == 1
    assert SendSkip.objects.count() == 0


def test_no_consent_on_any_survey_channel_is_a_recorded_skip(nps, acme, send):
    carol = CustomerFactory(program=acme, external_id="carol", consent_email=False)

    result = send(nps, carol)

    assert (result.invitation, result.skipped_reason) == (None, "no_consent")
    assert list(SendSkip.objects.values_list("customer__external_id", "reason", "source")) == [
        ("carol", "no_consent", "api")
    ]
    assert Invitation.objects.count() == 0
    assert Message.objects.count() == 0


def test_requested_channel_without_consent_is_skipped(nps, alice, send):
    result = send(nps, alice, channel="sms")

    assert result.skipped_reason == "no_consent"
    assert Invitation.objects.count() == 0


def test_channel_order_falls_back_to_the_first_consented_channel(acme, send):
    survey = make_survey(acme, "csat", channels=["whatsapp", "sms", "email"])
    dana = CustomerFactory(program=acme, external_id="dana", phone="+60123456789", consent_sms=True)

    assert send(survey, dana).invitation.channel == "sms"


def test_inactive_survey_and_erased_customer_are_skipped(nps, alice, bob, send):
    bob.erased_at = T0
    bob.save()
    assert send(nps, bob).skipped_reason == "erased"
    nps.is_active = False
    nps.save()
    assert send(nps, alice).skipped_reason == "survey_inactive"
    assert sorted(SendSkip.objects.values_list("reason", flat=True)) == ["erased", "survey_inactive"]
    assert Invitation.objects.count() == 0


def test_survey_and_customer_of_different_programs_is_refused(nps, globex):
    stranger = CustomerFactory(program=globex, external_id="stranger")
    with pytest.raises(ValueError):
        send_survey(survey=nps, customer=stranger)
    assert Invitation.objects.count() == 0


def test_recontact_window_drops_a_second_send_of_the_same_survey(nps, alice, send):
    with time_machine.travel(T0, tick=False):
        send(nps, alice)
    # Given the NPS default of 90 days, day 89 is still inside the window.
    with time_machine.travel(T0 + timedelta(days=89), tick=False):
        result = send(nps, alice)
    assert (result.invitation, result.skipped_reason) == (None, "recontact_window")
    with time_machine.travel(T0 + timedelta(days=90), tick=False):
        assert send(nps, alice).invitation.status == "queued"
    assert Invitation.objects.count() == 2
    assert list(SendSkip.objects.values_list("reason", flat=True)) == ["recontact_window"]


def test_csat_default_recontact_window_is_30_days(csat, alice, send):
    assert csat.get_recontact_days() == 30
    with time_machine.travel(T0, tick=False):
        send(csat, alice)
    with time_machine.travel(T0 + timedelta(days=29, hours=23), tick=False):
        assert send(csat, alice).skipped_reason == "recontact_window"
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        assert send(csat, alice).skipped_reason == ""


def test_program_cooldown_applies_across_surveys_and_counts_from_the_send(nps, csat, alice, send):
    with time_machine.travel(T0, tick=False):
        first = send(nps, alice).invitation
    # Answering later does not restart the clock: the cooldown counts from the send.
    Invitation.objects.filter(pk=first.pk).update(status="answered", answered_at=T0 + timedelta(days=5))
    with time_machine.travel(T0 + timedelta(days=6, hours=23), tick=False):
        assert send(csat, alice).skipped_reason == "cooldown"
    with time_machine.travel(T0 + timedelta(days=7), tick=False):
        assert send(csat, alice).invitation.status == "queued"


def test_cooldown_is_a_per_program_setting(nps, csat, alice, send, acme):
    SurveySettings.objects.create(program=acme, cooldown_days=2)
    with time_machine.travel(T0, tick=False):
        send(nps, alice)
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        assert send(csat, alice).skipped_reason == ""


def test_failed_invitations_do_not_count_for_throttling(nps, alice, send):
    with time_machine.travel(T0, tick=False):
        first = send(nps, alice).invitation
    Invitation.objects.filter(pk=first.pk).update(status="failed")
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert send(nps, alice).skipped_reason == ""


def test_held_send_waits_until_eligible_then_goes_out(acme, alice, send):
    nps = make_survey(acme, "nps", throttled_action="hold")
    csat = make_survey(acme, "csat", throttled_action="hold")
    with time_machine.travel(T0, tick=False):
        send(nps, alice)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        held = send(csat, alice).invitation
    assert (held.status, held.hold_until, held.hold_reason, held.invited_at, held.message_id) == (
        "held",
        T0 + timedelta(days=7),
        "cooldown",
        None,
        None,
    )
    assert SendSkip.objects.count() == 0

    # Before the hold ends, the sweep leaves it alone.
    assert release_held_invitations(now=T0 + timedelta(days=6)) == 0
    with time_machine.travel(T0 + timedelta(days=7, minutes=15), tick=False):
        assert release_held_invitations() == 1
    held.refresh_from_db()
    assert (held.status, held.invited_at) == ("queued", T0 + timedelta(days=7, minutes=15))
    assert Message.objects.get(pk=held.message_id).template_key == "survey_invitation"


def test_held_invitation_of_an_erased_customer_fails_with_a_recorded_reason(acme, alice, send):
    nps = make_survey(acme, "nps", throttled_action="hold")
    csat = make_survey(acme, "csat", throttled_action="hold")
    with time_machine.travel(T0, tick=False):
        send(nps, alice)
        held = send(csat, alice).invitation
    alice.erased_at = T0
    alice.save()

    assert release_held_invitations(now=T0 + timedelta(days=8)) == 0
    held.refresh_from_db()
    assert (held.status, held.failure_reason, held.message_id) == ("failed", "erased", None)
    assert list(SendSkip.objects.values_list("reason", flat=True)) == ["erased"]


def test_quiet_hours_hold_the_message_and_the_invitation_stays_queued(acme, nps, alice, send):
    # Given quiet hours 21:00-08:00 in the customer's zone (Kuala Lumpur, UTC+8)
    from datetime import time

    acme.quiet_hours_start, acme.quiet_hours_end = time(21, 0), time(8, 0)
    acme.save()
    alice.refresh_from_db()
    # When a survey is sent at 23:30 local time
    with time_machine.travel(datetime(2026, 3, 2, 15, 30, tzinfo=UTC), tick=False):
        invitation = send(nps, alice).invitation
    # Then the message waits for 08:00 local and the invitation is queued, not failed
    message = Message.objects.get(pk=invitation.message_id)
    assert (message.status, message.reason) == ("held", "quiet_hours")
    assert message.send_after == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    invitation.refresh_from_db()
    assert invitation.status == "queued"
