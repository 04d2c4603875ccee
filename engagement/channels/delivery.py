"""Delivery: claim a queued message, hand it to its backend, record the outcome.

The Message row is the queue. A worker claims a message with a conditional UPDATE
(`status = 'queued'` -> 'sending'), so a task delivered twice, or two workers, send it
once. Before claiming, the contact policy is evaluated again under a row lock on the
customer (SELECT ... FOR UPDATE): claims for one customer are serialised, so the caps hold
exactly even when many workers send at once. The provider call runs outside any
transaction. A transient error puts the message back in the queue with exponential
backoff; a permanent one (or too many attempts) fails it. The beat sweep releases held
messages whose time came, drops those held too long and re-claims stuck ones.

Guarantee: at most once per claim; a worker that dies between the provider call and the
UPDATE to `sent` leaves the message `sending`, and the sweep re-queues it after
CHANNELS_STUCK_MINUTES (so such a message may be sent twice: at-least-once in that case).
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from engagement.channels import policy, states
from engagement.channels.backends import DeliveryError, PermanentError, get_backend
from engagement.channels.models import Message, MessageStatus, Reason
from engagement.models import Customer

logger = logging.getLogger(__name__)


def _max_attempts():
    return getattr(settings, "CHANNELS_MAX_ATTEMPTS", 5)


def _retry_base_seconds():
    return getattr(settings, "CHANNELS_RETRY_BASE_SECONDS", 60)


def deliver_message(message_id):
    """Deliver one queued message whose time has come; returns the new status or None.

    Idempotent: a message that is not queued (already sent, claimed by another worker,
    missing) is left alone and None is returned.
    """
    message = _claim(message_id)
    if message is None:
        return None
    try:
        result = get_backend(message.channel).send(message)
    except PermanentError as exc:
        return _fail(message, str(exc))
    except DeliveryError as exc:
        return _retry_or_fail(message, str(exc))
    except Exception as exc:  # a bug or an unexpected library error: retry, but say so loudly
        logger.exception("Unexpected error delivering message %s", message.pk)
        return _retry_or_fail(message, f"{type(exc).__name__}: {exc}")
    return _mark_sent(message, result.provider_id, result.status)


def _claim(message_id):
    now = timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_related("program")
            .filter(pk=message_id, status=MessageStatus.QUEUED, send_after__lte=now)
            .first()
        )
        if message is None:
            return None
        # Serialises claims per customer so that two workers cannot both pass a cap.
        customer = Customer.objects.select_for_update().select_related("program").get(pk=message.customer_id)
        # Read the clock after the lock: a claim committed while we waited must fall in the window.
        now = timezone.now()
        contact_policy = policy.get_policy(message.program)
        decision = policy.evaluate(
            customer,
            message.channel,
            transactional=message.transactional,
            pre_approved=message.pre_approved,
            at=now,
            policy=contact_policy,
            include_queued=False,
            exclude_id=message.pk,
            topic=message.topic,
        )
        if decision.status == MessageStatus.SKIPPED:
            # Consent withdrawn (or address removed) since it was queued: it will never go.
            _drop(message, decision.reason, decision.detail)
            return None
        if decision.status == MessageStatus.HELD:
            _hold(message, decision, contact_policy, now)
            return None
        to_address = policy.get_address(customer, message.channel)[:254]
        claimed = states.transition(
            message,
            MessageStatus.SENDING,
            updates={"contact_at": now, "attempts": F("attempts") + 1, "to_address": to_address},
        )
        if not claimed:
            return None
    message.refresh_from_db()
    return message


def _hold(message, decision, contact_policy, now):
    """Hold until the decision's retry time, but never past the max hold: then drop."""
    deadline = message.due_at + dt.timedelta(hours=contact_policy.max_hold_hours)
    if now >= deadline:
        _drop(message, decision.reason, f"held longer than {contact_policy.max_hold_hours} hours")
        return
    states.transition(
        message,
        MessageStatus.HELD,
        reason=decision.reason,
        updates={
            "reason": decision.reason,
            "reason_detail": decision.detail,
            "send_after": min(decision.retry_at, deadline),
        },
    )


def _drop(message, reason, detail):
    detail = detail[:255]
    moved = states.transition(
        message, MessageStatus.DROPPED, reason=detail or reason, updates={"reason": reason, "reason_detail": detail}
    )
    return MessageStatus.DROPPED if moved else None


def _mark_sent(message, provider_id, status):
    now = timezone.now()
    fields = {"provider_id": provider_id[:255], "sent_at": now, "reason": "", "reason_detail": ""}
    if status == MessageStatus.DELIVERED:
        fields["delivered_at"] = now
    else:
        status = MessageStatus.SENT
    return status if states.transition(message, status, updates=fields) else None


def _fail(message, error):
    logger.warning("Message %s failed: %s", message.pk, error)
    detail = error[:255]
    fields = {"failed_at": timezone.now(), "reason": Reason.PROVIDER_ERROR, "reason_detail": detail}
    return (
        MessageStatus.FAILED
        if states.transition(message, MessageStatus.FAILED, reason=detail, updates=fields)
        else None
    )


def _retry_or_fail(message, error):
    if message.attempts >= _max_attempts():
        return _fail(message, f"after {message.attempts} attempts: {error}")
    delay = _retry_base_seconds() * 2 ** (message.attempts - 1)
    retry_at = timezone.now() + dt.timedelta(seconds=delay)
    requeued = states.transition(
        message,
        MessageStatus.QUEUED,
        reason=error[:300],
        updates={"send_after": retry_at, "reason": Reason.PROVIDER_ERROR, "reason_detail": error[:255]},
    )
    if requeued:
        from engagement.channels.tasks import deliver_messages_task

        logger.info("Message %s: transient error, retry in %ss: %s", message.pk, delay, error)
        transaction.on_commit(lambda: deliver_messages_task.apply_async(([message.pk],), countdown=delay))
        return MessageStatus.QUEUED
    return None


def record_provider_status(provider_id, status):
    """A provider's delivery report: "delivered" or "failed" for the message with `provider_id`.

    Moves sent -> delivered, and sent/delivered -> failed (undelivered after all); anything
    else is ignored (a late or repeated report). Returns the number of messages moved.
    """
    now = timezone.now()
    messages = Message.objects.filter(provider_id=provider_id)
    if status == MessageStatus.DELIVERED:
        return len(states.move_many(messages, [MessageStatus.SENT], status, updates={"delivered_at": now}))
    if status == MessageStatus.FAILED:
        detail = "undelivered (provider report)"
        updates = {"failed_at": now, "reason": Reason.PROVIDER_ERROR, "reason_detail": detail}
        return len(
            states.move_many(
                messages, [MessageStatus.SENT, MessageStatus.DELIVERED], status, reason=detail, updates=updates
            )
        )
    return 0
