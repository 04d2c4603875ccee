"""Loyalty metric providers (METRICS.md section 7), registered with engagement.hooks in
RewardsConfig.ready: fn(program, start, end, segment=None) -> MetricValue. Read-only.

- points_issued: earn entries (released points count when they become spendable) plus
  positive adjustments, in [start, end).
- points_redeemed: redeemed points minus refunds of failed redemptions.
- points_expired: expired points.
- redemption_rate: points_redeemed / points_issued x 100.
- participation_rate: members (customers with a points account created before `end`) who
  earned or redeemed in the period / members x 100.
- reward_cost: cash value of redemptions completed in the period (payouts of cash rewards
  included; they are redemptions too).
"""

from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, Sum

from engagement import hooks
from engagement.metrics.types import MetricValue, rate
from engagement.models import Customer
from rewards.models import EntryKind, LedgerEntry, PointsAccount, Redemption


def in_segment(qs, segment, path="customer__"):
    """Filter by RFM segment (customer.score.segment); nothing matches without scoring."""
    if not segment:
        return qs
    try:
        Customer._meta.get_field("score")
    except FieldDoesNotExist:
        return qs.none()
    return qs.filter(**{f"{path}score__segment": segment})


def _entries(program, start, end, segment):
    qs = LedgerEntry.objects.filter(program=program, created_at__gte=start, created_at__lt=end)
    return in_segment(qs, segment)


def _sum(qs):
    return qs.aggregate(s=Sum("points"))["s"] or 0


def issued(program, start, end, segment=None):
    qs = _entries(program, start, end, segment).filter(
        Q(kind=EntryKind.EARN, points__gt=0) | Q(kind=EntryKind.ADJUST, points__gt=0)
    )
    return _sum(qs)


def redeemed(program, start, end, segment=None):
    qs = _entries(program, start, end, segment)
    return -_sum(qs.filter(kind=EntryKind.REDEEM)) - _sum(qs.filter(kind=EntryKind.REFUND))


def points_issued(program, start, end, segment=None):
    return MetricValue(Decimal(issued(program, start, end, segment)), unit="points")


def points_redeemed(program, start, end, segment=None):
    return MetricValue(Decimal(redeemed(program, start, end, segment)), unit="points")


def points_expired(program, start, end, segment=None):
    qs = _entries(program, start, end, segment).filter(kind=EntryKind.EXPIRE)
    return MetricValue(Decimal(-_sum(qs)), unit="points")


def redemption_rate(program, start, end, segment=None):
    return rate(redeemed(program, start, end, segment), issued(program, start, end, segment))


def participation_rate(program, start, end, segment=None):
    members = PointsAccount.objects.filter(program=program, customer__created_at__lt=end)
    members = in_segment(members, segment)
    active = (
        _entries(program, start, end, segment)
        .filter(Q(kind=EntryKind.EARN) | Q(kind=EntryKind.REDEEM))
        .values("customer_id")
        .distinct()
        .count()
    )
    return rate(active, members.count())


def reward_cost(program, start, end, segment=None):
    qs = Redemption.objects.filter(
        program=program, status=Redemption.Status.COMPLETED, completed_at__gte=start, completed_at__lt=end
    )
    qs = in_segment(qs, segment)
    total = qs.aggregate(s=Sum("cash_value"))["s"] or Decimal("0")
    return MetricValue(total, numerator=qs.count(), unit="money")


PROVIDERS = {
    "points_issued": points_issued,
    "points_redeemed": points_redeemed,
    "points_expired": points_expired,
    "redemption_rate": redemption_rate,
    "participation_rate": participation_rate,
    "reward_cost": reward_cost,
}


def register():
    for name, provider in PROVIDERS.items():
        hooks.register_metric(name, provider)
