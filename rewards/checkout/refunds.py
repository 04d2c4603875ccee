"""A `refund` event for an order paid partly with points gives back the same share of the
points spent (the earned points are clawed back by rewards.earning)."""

import math
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from rewards import activity, ledger
from rewards.checkout.models import Reservation
from rewards.models import LedgerEntry


def return_spent_points(program, refund) -> int:
    """Return refund.value / order total of the points a paid reservation of the refund's
    order spent (all of them without a value), never more than were spent in total.
    Idempotent per refund event (ledger key). Locks the reservation row. Returns the points."""
    order = str((refund.properties or {}).get("order_id") or "")
    if not order:
        return 0
    with transaction.atomic():
        reservation = (
            Reservation.objects.select_for_update()
            .filter(program=program, customer=refund.customer, order_id=order, status=Reservation.Status.CONFIRMED)
            .first()
        )
        if reservation is None or reservation.points == 0:
            return 0
        key = f"checkout:refund:{refund.event_id}"
        if LedgerEntry.objects.filter(program=program, idempotency_key=key).exists():
            return 0
        share = Decimal(1)
        if refund.value is not None and reservation.order_total > 0:
            share = min(Decimal(1), Decimal(refund.value) / reservation.order_total)
        points = min(reservation.points - reservation.points_returned, math.floor(reservation.points * share))
        if points <= 0:
            return 0
        ledger.return_points(
            customer=refund.customer, points=points, reason=activity.purchase_refund(order), idempotency_key=key,
            expires_at=reservation.debit.expires_at if reservation.debit else None, source=("order", order),
        )  # fmt: skip
        Reservation.objects.filter(pk=reservation.pk).update(points_returned=F("points_returned") + points)
        return points
