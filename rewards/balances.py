"""Read-side queries of the points ledger (selectors): balance summaries and points
earned in a window. Nothing here writes."""

from datetime import timedelta

from django.db.models import F, Q, Sum
from django.utils import timezone

from rewards.checkout.evaluation import get_held_points
from rewards.models import EntryKind, LedgerEntry, PointsAccount, PointsLot, RewardsSettings


def get_balance_summary(customer, now=None):
    """Balance, pending and the soonest expiry (date and amount) within the program setting."""
    now = now or timezone.now()
    account = PointsAccount.objects.filter(customer=customer).first()
    soon = RewardsSettings.get_for(customer.program).expiring_soon_days
    lots = PointsLot.objects.filter(
        account__customer=customer, status=PointsLot.Status.AVAILABLE, remaining__gt=0,
        expires_at__isnull=False, expires_at__lte=now + timedelta(days=soon),
    )  # fmt: skip
    first = lots.order_by("expires_at").first()
    expiring = None
    if first is not None:
        amount = lots.filter(expires_at=first.expires_at).aggregate(s=Sum("remaining"))["s"]
        expiring = {"at": first.expires_at, "points": amount}
    return {
        "balance": account.balance if account else 0,
        "pending": account.pending if account else 0,
        "held": get_held_points(customer),
        "expiring_soon": expiring,
        "expiring_soon_total": lots.aggregate(s=Sum("remaining"))["s"] or 0,
    }


def list_upcoming_lots(customer, now=None, limit=5):
    """Pending points by the time they become spendable, and spendable points by the time they
    expire, soonest first (at most `limit` times each): {"pending": [...], "expiring": [...]},
    each item {"at", "points"}."""
    now = now or timezone.now()
    lots = PointsLot.objects.filter(account__customer=customer, remaining__gt=0)
    pending = (
        lots.filter(status=PointsLot.Status.PENDING)
        .values(at=F("available_at"))
        .annotate(points=Sum("remaining"))
        .order_by(F("at").asc(nulls_last=True))
    )
    expiring = (
        lots.filter(status=PointsLot.Status.AVAILABLE, expires_at__gt=now)
        .values(at=F("expires_at"))
        .annotate(points=Sum("remaining"))
        .order_by("at")
    )
    return {"pending": list(pending[:limit]), "expiring": list(expiring[:limit])}


def earned_since(customers_q, since, extra=None):
    """Points earned (earn + positive adjust, not reversed) per customer id since `since`;
    `extra` ({customer id: points}) adds grants not written yet (rewards.grant_batch)."""
    rows = (
        LedgerEntry.objects.filter(customers_q, created_at__gte=since)
        .filter(
            Q(kind=EntryKind.EARN, points__gt=0) | Q(kind=EntryKind.ADJUST, points__gt=0) | Q(kind=EntryKind.REVERSE)
        )
        .values("customer_id")
        .annotate(total=Sum("points"))
    )
    totals = dict(extra or {})
    for row in rows:
        totals[row["customer_id"]] = totals.get(row["customer_id"], 0) + (row["total"] or 0)
    return {customer_id: max(0, total) for customer_id, total in totals.items()}
