"""The beat sweep: release held messages whose time came, drop those held too long, and
re-queue messages whose delivery task was lost (queued) or whose worker died (sending)."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engagement.channels import states
from engagement.channels.models import ContactPolicy, Message, MessageStatus
from engagement.channels.sending import schedule_delivery

BATCH = 500


def _stuck_after():
    return dt.timedelta(minutes=getattr(settings, "CHANNELS_STUCK_MINUTES", 15))


def _max_hold(program_id, cache):
    if program_id not in cache:
        row = ContactPolicy.objects.filter(program_id=program_id).first() or ContactPolicy()
        cache[program_id] = dt.timedelta(hours=row.max_hold_hours)
    return cache[program_id]


def release_held_messages(now=None):
    """Queue held messages whose `send_after` has come; drop those past their max hold.

    Rows are locked with SKIP LOCKED so two sweeps share the work without waiting. The
    policy is checked again when a worker claims a released message (it may be held again).
    Returns (released, dropped).
    """
    now = now or timezone.now()
    released, dropped, holds = [], [], {}
    with transaction.atomic():
        rows = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=MessageStatus.HELD, send_after__lte=now)
            .order_by("send_after")
            .only("pk", "program_id", "due_at")[:BATCH]
        )
        for row in rows:
            expired = now >= row.due_at + _max_hold(row.program_id, holds)
            (dropped if expired else released).append(row.pk)
        held = [MessageStatus.HELD]
        if dropped:
            detail = "held past the maximum hold time"
            states.move_many(
                Message.objects.filter(pk__in=dropped),
                held,
                MessageStatus.DROPPED,
                reason=detail,
                updates={"reason_detail": detail},
            )
        if released:
            states.move_many(Message.objects.filter(pk__in=released), held, MessageStatus.QUEUED, reason="released")
            schedule_delivery(released)
    return len(released), len(dropped)


def requeue_stuck_messages(now=None):
    """Re-enqueue queued messages left behind and re-queue `sending` ones past the stuck time."""
    now = now or timezone.now()
    cutoff = now - _stuck_after()
    with transaction.atomic():
        stuck = Message.objects.select_for_update(skip_locked=True).filter(
            status=MessageStatus.SENDING, contact_at__lte=cutoff
        )
        stuck_ids = list(stuck.values_list("pk", flat=True)[:BATCH])
        states.move_many(
            Message.objects.filter(pk__in=stuck_ids),
            [MessageStatus.SENDING],
            MessageStatus.QUEUED,
            reason="stuck in sending",
            updates={"send_after": now},
        )
        ids = stuck_ids + list(
            Message.objects.filter(status=MessageStatus.QUEUED, send_after__lte=now, updated_at__lte=cutoff)
            .order_by("send_after")
            .values_list("pk", flat=True)[:BATCH]
        )
        # Touch them so the next sweep does not enqueue them again before a worker tries.
        Message.objects.filter(pk__in=ids).update(updated_at=now)
        if ids:
            schedule_delivery(ids)
    return len(ids)
