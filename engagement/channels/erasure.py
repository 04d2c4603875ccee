"""Right to erasure for channels: what we keep about a customer's messages."""

from django.db import transaction
from django.utils import timezone

from engagement.channels import states
from engagement.channels.models import Message, MessageStatus, PushSubscription, Reason


def erase_customer_messages(customer):
    """Blank the address and content of every message of `customer`, drop the ones not yet
    sent (status handlers run) and delete their push subscriptions. The rows stay (channel,
    template, status, times) so the message counts remain true. Idempotent.
    """
    now = timezone.now()
    with transaction.atomic():
        pending = states.move_many(
            Message.objects.filter(customer=customer),
            [MessageStatus.QUEUED, MessageStatus.HELD],
            MessageStatus.DROPPED,
            reason=Reason.ERASED,
            updates={"reason": Reason.ERASED, "reason_detail": ""},
        )
        Message.objects.filter(customer=customer).exclude(to_address="", subject="", body="").update(
            to_address="", subject="", body="", updated_at=now
        )
        PushSubscription.objects.filter(customer=customer).delete()
    return len(pending)
