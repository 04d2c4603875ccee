"""Sending surveys: the only door to creating invitations (API sends, campaigns, relationship
samples, held releases). Channel delivery itself is engagement.channels' job (Celery, on commit).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from engagement.channels.sending import send_message
from engagement.formatting import format_date
from engagement.models import Customer
from surveys import states
from surveys.models import Invitation, SendSkip, Survey
from surveys.throttling import check_throttle

INVITATION_TEMPLATE = "survey_invitation"
REMINDER_TEMPLATE = "survey_reminder"
# Channels need an address as well as consent.
CHANNEL_ADDRESS = {"email": "email", "sms": "phone", "whatsapp": "phone", "push": None}


@dataclass(frozen=True)
class SendResult:
    invitation: Invitation | None
    skipped_reason: str = ""
    created: bool = True

    @property
    def skipped(self) -> bool:
        return self.invitation is None


def pick_channel(survey: Survey, customer: Customer, requested: str | None = None) -> str | None:
    """First channel of the survey (or the requested one) the customer consented to and can be
    reached on; None when there is none."""
    for channel in [requested] if requested else survey.channels or []:
        address_field = CHANNEL_ADDRESS.get(channel, "")
        if address_field == "":
            continue  # not a channel we know
        if customer.has_consent(channel) and (address_field is None or getattr(customer, address_field)):
            return channel
    return None


def send_survey(
    *,
    survey: Survey,
    customer: Customer,
    source: str = "campaign",
    idempotency_key: str | None = None,
    channel: str | None = None,
    transactional: bool = False,
) -> SendResult:
    """Invite `customer` to `survey` now, or hold or skip the send; returns SendResult.

    Checks, in order: survey active, customer not erased, a consented channel, then the
    recontact window and the program cooldown (a throttled send is held or dropped as the
    survey says). Every skip is a SendSkip row with its reason. Idempotent by
    (program, idempotency_key): a repeat returns the first outcome and creates nothing.
    Locks the customer row so two concurrent sends cannot both pass the throttle. Joins the
    caller's transaction; the channel message is delivered by Celery on commit.
    """
    if survey.program_id != customer.program_id:
        raise ValueError("The survey and the customer belong to different programs.")
    key = idempotency_key or ""
    with transaction.atomic():
        # Lock order: customer first (the same in every survey service).
        customer = Customer.objects.select_for_update().select_related("program").get(pk=customer.pk)
        if key and (previous := _previous_result(survey.program_id, key)):
            return previous
        now = timezone.now()
        reason = _ineligible_reason(survey, customer)
        chosen = None
        if not reason:
            chosen = pick_channel(survey, customer, channel)
            if chosen is None:
                reason = SendSkip.Reason.NO_CONSENT
        if reason:
            return _skip(survey, customer, reason, source, key)
        assert chosen is not None  # no channel is a reason
        throttle = check_throttle(survey, customer, now)
        if throttle and survey.throttled_action != survey.ThrottledAction.HOLD:
            return _skip(survey, customer, throttle.reason, source, key)
        invitation = states.create(
            Invitation(
                program_id=survey.program_id,
                survey=survey,
                customer=customer,
                channel=chosen,
                locale=customer.get_locale(),
                source=source,
                idempotency_key=key,
                hold_until=throttle.eligible_at if throttle else None,
                hold_reason=throttle.reason if throttle else "",
            ),
            Invitation.Status.HELD if throttle else Invitation.Status.QUEUED,
            reason=throttle.reason if throttle else "",
        )
        if not throttle:
            dispatch_invitation(invitation, now, transactional=transactional)
        return SendResult(invitation=invitation)


def dispatch_invitation(invitation: Invitation, now: datetime, transactional: bool = False) -> None:
    """Start the throttling clock and hand the invitation to its channel (inside a transaction).

    A held invitation becomes queued. A message the channel refuses outright (e.g. contact
    cap) makes the invitation `failed` and is recorded as a SendSkip with the channel's reason.
    """
    fields = {
        "invited_at": now,
        "expires_at": now + timedelta(days=invitation.survey.link_validity_days),
        "hold_until": None,
    }
    for name, value in fields.items():
        setattr(invitation, name, value)  # the message's link and expiry read them
    message = send_message(
        customer=invitation.customer,
        channel=invitation.channel,
        template_key=INVITATION_TEMPLATE,
        context=message_context(invitation),
        transactional=transactional,
        source="surveys",
        idempotency_key=f"survey-invitation-{invitation.pk}",
    )
    fields["message_id"] = message.pk
    skipped = _message_skip_reason(message)
    if skipped is not None:
        fields.update(failed_at=now, failure_reason=skipped[:60])
        states.transition(invitation, Invitation.Status.FAILED, reason=skipped, updates=fields)
        SendSkip.objects.create(
            program_id=invitation.program_id,
            survey_id=invitation.survey_id,
            customer_id=invitation.customer_id,
            reason=SendSkip.Reason.CHANNEL,
            detail=skipped,
            source=invitation.source,
        )
    elif invitation.status == Invitation.Status.HELD:
        states.transition(invitation, Invitation.Status.QUEUED, reason="released", updates=fields)
    else:
        invitation.message_id = message.pk
        invitation.save(update_fields=list(fields))


def message_context(invitation: Invitation) -> dict[str, Any]:
    survey = invitation.survey
    question = survey.get_primary_question() or survey.questions.first()
    return {
        "customer_name": invitation.customer.name,
        "program_name": survey.program.name,
        "survey_name": survey.name,
        "question": question.localized("text", invitation.locale) if question else "",
        "link": invitation.get_link(),
        "expires_at": invitation.expires_at,
        # The date as every customer page writes it (engagement.formatting), in their language.
        "expires_on": format_date(
            invitation.expires_at, language=invitation.locale, tz_name=invitation.customer.get_timezone().key
        ),
    }


def _message_skip_reason(message):
    """The channel's reason when it refused the message outright, else None (queued or held)."""
    if getattr(message, "status", "") not in ("skipped", "dropped"):
        return None
    for field in ("reason", "skip_reason", "status_reason"):
        if getattr(message, field, ""):
            return str(getattr(message, field))
    return "skipped"


def _ineligible_reason(survey, customer):
    if not survey.is_active:
        return SendSkip.Reason.SURVEY_INACTIVE
    if customer.erased_at is not None:
        return SendSkip.Reason.ERASED
    return ""


def _skip(survey, customer, reason, source, key):
    SendSkip.objects.create(
        program_id=survey.program_id,
        survey=survey,
        customer=customer,
        reason=reason,
        source=source,
        idempotency_key=key,
    )
    return SendResult(invitation=None, skipped_reason=reason)


def _previous_result(program_id, key):
    invitation = Invitation.objects.filter(program_id=program_id, idempotency_key=key).first()
    if invitation is not None:
        return SendResult(invitation=invitation, created=False)
    skip = SendSkip.objects.filter(program_id=program_id, idempotency_key=key).first()
    if skip is not None:
        return SendResult(invitation=None, skipped_reason=skip.reason, created=False)
    return None


def release_held_invitations(now: datetime | None = None, limit: int = 500) -> int:
    """Beat: send held invitations whose hold has ended, if the customer is now eligible.

    Each in its own transaction, customer then invitation locked (the send_survey order);
    still throttled -> hold_until moves to the new eligible time; survey inactive or
    customer erased -> the invitation fails and a SendSkip records why. Returns how many
    were sent.
    """
    now = now or timezone.now()
    due = list(
        Invitation.objects.filter(status=Invitation.Status.HELD, hold_until__lte=now)
        .order_by("hold_until", "id")
        .values_list("id", "customer_id")[:limit]
    )
    sent = 0
    for invitation_id, customer_id in due:
        with transaction.atomic():
            Customer.objects.select_for_update().get(pk=customer_id)
            invitation = (
                Invitation.objects.select_for_update()
                .select_related("survey__program", "customer__program")
                .filter(pk=invitation_id, status=Invitation.Status.HELD)
                .first()
            )
            if invitation is None:
                continue  # released by a concurrent sweep
            sent += _release(invitation, now)
    return sent


def _release(invitation, now):
    reason = _ineligible_reason(invitation.survey, invitation.customer)
    if reason:
        states.transition(
            invitation, Invitation.Status.FAILED, reason=reason, updates={"failure_reason": reason, "failed_at": now}
        )
        SendSkip.objects.create(
            program_id=invitation.program_id,
            survey_id=invitation.survey_id,
            customer_id=invitation.customer_id,
            reason=reason,
            source=invitation.source,
        )
        return 0
    throttle = check_throttle(invitation.survey, invitation.customer, now)
    if throttle:
        invitation.hold_until = throttle.eligible_at
        invitation.hold_reason = throttle.reason
        invitation.save(update_fields=["hold_until", "hold_reason"])
        return 0
    dispatch_invitation(invitation, now)
    return 1


def renew_invitation(invitation: Invitation) -> Invitation | None:
    """Send a fresh link for an expired, unanswered invitation when its survey allows it
    (`allow_fresh_link`); returns the new Invitation or None when not allowed.

    The customer asked for it, so the throttle (recontact window, cooldown) does not apply
    and the message is transactional; the channel and language are the first invitation's.
    Idempotent: one renewal per invitation (idempotency key "renew:<id>"), a repeat returns it.
    """
    survey = invitation.survey
    if not survey.allow_fresh_link or not survey.is_active or invitation.status == Invitation.Status.ANSWERED:
        return None
    if not invitation.is_expired():
        return None
    key = f"renew:{invitation.pk}"
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("program").get(pk=invitation.customer_id)
        if customer.erased_at is not None:
            return None
        previous = Invitation.objects.filter(program_id=invitation.program_id, idempotency_key=key).first()
        if previous is not None:
            return previous
        fresh = Invitation.objects.create(
            program_id=invitation.program_id,
            survey=survey,
            customer=customer,
            channel=invitation.channel,
            locale=invitation.locale,
            source="renewal",
            idempotency_key=key,
        )
        dispatch_invitation(fresh, timezone.now(), transactional=True)
        return fresh
