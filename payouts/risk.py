"""Checks that hold a new payout for a person to look at, each with the reason recorded.

Run by services.request_payout under the customer's row lock, so two payouts of one
customer requested at the same moment are checked one after the other (no check-then-act
race on the counts and sums below).
"""

import zoneinfo
from datetime import datetime, time, timedelta

from django.db.models import Sum
from django.utils import timezone

from payouts.models import Hold, Payout, Status

NOT_COUNTED = [Status.FAILED, Status.CANCELLED]


def assess(payout, payout_settings, now=None):
    """Return (hold, detail, approvals_required) for a just-created payout."""
    now = now or timezone.now()
    others = Payout.objects.filter(program_id=payout.program_id).exclude(pk=payout.pk)
    mine = others.filter(customer_id=payout.customer_id).exclude(status__in=NOT_COUNTED)
    approvals = 2 if payout_settings.four_eyes else 1

    window = timedelta(minutes=payout_settings.velocity_window_minutes)
    recent = mine.filter(created_at__gte=now - window).count()
    if recent >= payout_settings.velocity_max_count:
        detail = (
            f"{recent + 1} payouts in the last {payout_settings.velocity_window_minutes} minutes "
            f"(limit {payout_settings.velocity_max_count})."
        )
        return Hold.VELOCITY, detail, approvals
    shared = (
        others.filter(destination_fingerprint=payout.destination_fingerprint)
        .exclude(customer_id=payout.customer_id)
        .values_list("customer__external_id", flat=True)
        .first()
    )
    if shared is not None:
        return Hold.VELOCITY, f"Destination already used by another customer ({shared}).", approvals

    limit = payout_settings.customer_daily_limit
    if limit is not None:
        today = (
            mine.filter(currency=payout.currency, created_at__gte=_day_start(payout.program, now)).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        if today + payout.amount > limit:
            detail = f"{today + payout.amount} {payout.currency} today for this customer (daily limit {limit})."
            return Hold.DAILY_LIMIT, detail, approvals

    threshold = payout_settings.approval_threshold
    if threshold is not None and payout.amount > threshold:
        return Hold.APPROVAL, f"Above the approval threshold of {threshold} {payout.currency}.", approvals
    return Hold.NONE, "", 0


def _day_start(program, now):
    """Midnight of today in the program's time zone."""
    local = now.astimezone(zoneinfo.ZoneInfo(program.timezone))
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
