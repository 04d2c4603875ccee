"""send_message: the one door for every outbound message (surveys, campaigns, rewards...)."""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from engagement.channels import policy, rendering, states
from engagement.channels.models import Channel, Message, MessageStatus, Reason, Topic

logger = logging.getLogger(__name__)


def send_message(
    *,
    customer,
    channel,
    template_key,
    context=None,
    transactional=False,
    source="",
    idempotency_key=None,
    not_before=None,
    topic=None,
):
    """Record a Message for `customer` on `channel` and schedule its delivery on commit.

    Renders the template (customer's locale, English fallback) with `context` (plus
    `customer` and `program`), then applies the contact policy: the row is created
    queued (enqueued on commit, queue "messaging"), held (quiet hours, caps, min gap,
    `not_before` in the future; released by the beat sweep) or skipped with a reason
    (no_consent, no_address, no_template, whatsapp_window, erased). Runs in the caller's
    transaction: a rollback records and sends nothing. Idempotent by (program,
    idempotency_key): a repeated key returns the first message unchanged.
    `topic` (offers, surveys, account; default: surveys for source "surveys", account for
    transactional messages, else offers) is checked against the customer's preferences;
    marketing and survey emails are delivered with a footer link to the preference page
    and RFC 8058 List-Unsubscribe headers (backends.email).
    Raises ValueError for an unknown channel.
    """
    if channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}; use one of {', '.join(Channel.values)}")
    program = customer.program
    if idempotency_key and (existing := _existing(program, idempotency_key)):
        return existing
    now = timezone.now()
    due_at = max(not_before, now) if not_before else now
    message = Message(
        program=program,
        customer=customer,
        channel=channel,
        template_key=template_key,
        topic=topic or default_topic(source, transactional),
        source=source[:120],
        idempotency_key=idempotency_key or None,
        transactional=transactional,
        due_at=due_at,
        send_after=due_at,
        created_at=now,
    )
    contact_policy = policy.get_policy(program)
    decision = _prepare(message, customer, context or {}, contact_policy)
    if decision.status != MessageStatus.SKIPPED and not_before and not_before > now:
        # Quiet hours and caps are judged when it is due (the claim checks the policy again).
        decision = policy.Decision(MessageStatus.HELD, Reason.NOT_BEFORE, "", not_before)
    message.reason, message.reason_detail = decision.reason, decision.detail
    if decision.status == MessageStatus.HELD:
        # Wake up at the max hold at the latest, when the sweep drops it if still blocked.
        deadline = due_at + dt.timedelta(hours=contact_policy.max_hold_hours)
        message.send_after = min(decision.retry_at, deadline)
    if not _save_once(message, decision.status):
        return _existing(program, idempotency_key)
    if message.status == MessageStatus.QUEUED:
        schedule_delivery([message.pk])
    return message


def _prepare(message, customer, context, contact_policy):
    """Fill locale, subject, body and address; return the policy decision for now."""
    try:
        rendered = rendering.render_message(
            customer.program,
            message.template_key,
            message.channel,
            customer.get_locale(),
            {"customer": customer, "program": customer.program, **context},
        )
    except rendering.TemplateNotFound as exc:
        logger.warning("Message not sent: %s", exc)
        return policy.Decision(MessageStatus.SKIPPED, Reason.NO_TEMPLATE, str(exc)[:255])
    message.locale, message.subject, message.body = rendered.locale, rendered.subject[:255], rendered.body
    message.pre_approved = rendered.pre_approved
    message.to_address = policy.get_address(customer, message.channel)[:254]
    return policy.evaluate(
        customer,
        message.channel,
        transactional=message.transactional,
        pre_approved=message.pre_approved,
        at=message.created_at,
        policy=contact_policy,
        topic=message.topic,
    )


def default_topic(source, transactional):
    if source.startswith("survey"):
        return Topic.SURVEYS
    return Topic.ACCOUNT if transactional else Topic.OFFERS


def _existing(program, idempotency_key):
    return Message.objects.filter(program=program, idempotency_key=idempotency_key).first()


def _save_once(message, status):
    """Insert the row; False when a concurrent call inserted the same idempotency key first."""
    try:
        # states.create inserts in a savepoint: a duplicate key leaves the caller's transaction usable.
        states.create(message, status, reason=message.reason)
        return True
    except IntegrityError:
        if not message.idempotency_key:
            raise
        return False


DELIVERY_CHUNK = 100


class _DeliveryBatch:
    """Message ids queued in one transaction, enqueued together (in chunks) on commit."""

    def __init__(self):
        self.ids = []

    def flush(self):
        from engagement.channels.tasks import deliver_messages_task

        for start in range(0, len(self.ids), DELIVERY_CHUNK):
            deliver_messages_task.delay(self.ids[start : start + DELIVERY_CHUNK])


def schedule_delivery(message_ids):
    """Enqueue delivery of `message_ids` once the current transaction commits.

    Batch-friendly: all ids scheduled in one transaction go out as a few tasks of up to
    DELIVERY_CHUNK ids. The batch is tied to its on-commit callback; when a savepoint rollback
    discarded that callback, a new batch starts. An id whose row was rolled back is harmless
    (delivery ignores ids that do not exist).
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        batch = _DeliveryBatch()
        batch.ids.extend(message_ids)
        batch.flush()
        return
    batch = getattr(connection, "_channels_delivery_batch", None)
    if batch is None or not any(entry[1] == batch.flush for entry in connection.run_on_commit):
        batch = _DeliveryBatch()
        connection._channels_delivery_batch = batch
        transaction.on_commit(batch.flush)
    batch.ids.extend(message_ids)
