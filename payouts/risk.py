"""Checks that hold a new payout for a person to look at, each with the reason recorded.

Run by services.request_payout under the customer's row lock, so two payouts of one
customer requested at the same moment are checked one after the other (no check-then-act
race on the counts and sums below).
"""

import zoneinfo
from datetime import datetime, time, timedelta

from django.db.models import Sum
from django.utils import timezone

from payouts.hold_reasons import COUNT, SHARED_DESTINATION, HoldReason
from payouts.models import Hold, Payout, Status

NOT_COUNTED = [Status.FAILED, Status.CANCELLED]


def assess(payout, payout_settings, now=None):
    """Return (reason, approvals_required) for a just-created payout; reason.hold is
    Hold.NONE (and approvals 0) when nothing holds it."""
    now = now or timezone.now()
    others = Payout.objects.filter(program_id=payout.program_id).exclude(pk=payout.pk)
    mine = others.filter(customer_id=payout.customer_id).exclude(status__in=NOT_COUNTED)
    approvals = 2 if payout_settings.four_eyes else 1

    window = timedelta(minutes=payout_settings.velocity_window_minutes)
    recent = mine.filter(created_at__gte=now - window).count()
    if recent >= payout_settings.velocity_max_count:
        reason = HoldReason.of(
            Hold.VELOCITY,
            check=COUNT,
            count=recent + 1,
            minutes=payout_settings.velocity_window_minutes,
            limit=payout_settings.velocity_max_count,
        )
        return reason, approvals
    shared = (
        others.filter(destination_fingerprint=payout.destination_fingerprint)
        .exclude(customer_id=payout.customer_id)
        .values_list("customer__external_id", flat=True)
        .first()
    )
    if shared is not None:
        return HoldReason.of(Hold.VELOCITY, check=SHARED_DESTINATION, customer=shared), approvals

    limit = payout_settings.customer_daily_limit
    if limit is not None:
        today = (
            mine.filter(currency=payout.currency, created_at__gte=_day_start(payout.program, now)).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        if today + payout.amount > limit:
            total = today + payout.amount
            return HoldReason.of(Hold.DAILY_LIMIT, total=total, currency=payout.currency, daily_limit=limit), approvals

    threshold = payout_settings.approval_threshold
    if threshold is not None and payout.amount > threshold:
        return HoldReason.of(Hold.APPROVAL, threshold=threshold, currency=payout.currency), approvals
    return HoldReason(Hold.NONE), 0


def _day_start(program, now):
    """Midnight of today in the program's time zone."""
    local = now.astimezone(zoneinfo.ZoneInfo(program.timezone))
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
