"""Points as payment: hold points (and codes) for an order, then confirm, cancel or let the
hold expire. The ONLY module that changes a reservation's status.

A hold is a `spend` debit of the ledger (rewards.ledger.debit_points: account row lock,
balance checked after the lock, CHECK balance >= 0), so it can never overdraw; the points
leave the balance at once and the balance answer shows them as `held`. Confirm only marks
the reservation paid. Cancel and expiry give the points back (`refund` entry, a lot expiring
no later than the points spent) and release the codes' uses.

Lock order: the reservation row, then the customer's points account, then codes and
promotions by pk. Statuses move by conditional UPDATE (held -> confirmed/cancelled/expired).
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards import activity, ledger
from rewards.checkout import promotions
from rewards.checkout.errors import (
    CodesRefused,
    OrderAlreadyReserved,
    PointsOverLimit,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationExpired,
    ReservationNotFound,
)
from rewards.checkout.evaluation import Evaluation, evaluate_cart, points_value, to_dict
from rewards.checkout.models import CheckoutSettings, CodeUse, Reservation
from rewards.errors import InsufficientPoints
from rewards.models import EntryKind

Status = Reservation.Status


def _check_request(program, evaluation: Evaluation, points: int) -> None:
    if evaluation.refused:
        raise CodesRefused([(i, reason, promotions.reason_text(reason)) for i, _code, reason in evaluation.refused])
    if points == 0:
        return
    settings = CheckoutSettings.get_for(program)
    if points % settings.points_step or points < settings.min_points_per_order:
        raise PointsOverLimit(
            _("Points are spent in multiples of %(step)s, at least %(min)s.")
            % {"step": settings.points_step, "min": settings.min_points_per_order},
            code="points_not_allowed",
        )
    if points > evaluation.max_points:
        if evaluation.limit == "balance" or points > evaluation.balance:
            raise InsufficientPoints()
        raise PointsOverLimit()


def _same_request(reservation: Reservation, customer, points: int, codes: list[str]) -> Reservation:
    """A repeat for an order id returns its reservation; another customer, points or codes is 409."""
    used = sorted(CodeUse.objects.filter(reservation=reservation).values_list("code__code", flat=True))
    if (reservation.customer_id, reservation.points, used) != (
        customer.pk, points, sorted(promotions.normalise(c) for c in codes)
    ):  # fmt: skip
        raise OrderAlreadyReserved()
    return reservation


def reserve_points(
    *, program, customer, order_id: str, lines, codes: list[str], points: int, ttl: timedelta | None = None
) -> tuple[Reservation, bool]:
    """Hold `points` (>= 0) and the codes for the order; returns (reservation, created).

    Idempotent by (program, order_id): the same request again returns the first reservation
    (created False); another one for the order is OrderAlreadyReserved. Raises CodesRefused,
    PointsOverLimit, InsufficientPoints; nothing is written then.
    """
    existing = Reservation.objects.filter(program=program, order_id=order_id).first()
    if existing is not None:
        return _same_request(existing, customer, points, codes), False
    evaluation = evaluate_cart(program, customer, lines, codes)
    _check_request(program, evaluation, points)
    now = timezone.now()
    ttl = ttl or timedelta(minutes=CheckoutSettings.get_for(program).reservation_minutes)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a concurrent twin's insert wins
                reservation = Reservation.objects.create(
                    program=program, customer=customer, order_id=order_id, points=points,
                    money_value=points_value(program, points), currency=program.currency,
                    order_total=evaluation.total, evaluation=to_dict(evaluation, customer), expires_at=now + ttl,
                    created_at=now,
                )  # fmt: skip
        except IntegrityError:
            twin = Reservation.objects.get(program=program, order_id=order_id)
            return _same_request(twin, customer, points, codes), False
        if points:
            # debit_points locks the account (the lock order: reservation, account, codes).
            reservation.debit = ledger.debit_points(
                customer, points, kind=EntryKind.SPEND, reason=activity.order_payment(order_id),
                idempotency_key=f"checkout:hold:{reservation.pk}", actor="checkout", source=("order", order_id),
            )  # fmt: skip
            reservation.save(update_fields=["debit"])
        else:
            ledger.lock_accounts([customer])
        promotions.claim_codes(reservation, customer, evaluation.applied)
    return reservation, True


def _locked(program, reservation_id) -> Reservation:
    reservation = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("customer")  # the answer names the customer; their row is not locked
        .filter(program=program, pk=reservation_id)
        .first()
    )
    if reservation is None:
        raise ReservationNotFound()
    return reservation


def _move(reservation: Reservation, to: str, **fields) -> None:
    # Conditional: only a held reservation moves; the row lock makes this the one mover.
    moved = Reservation.objects.filter(pk=reservation.pk, status=Status.HELD).update(status=to, **fields)
    if not moved:
        raise RuntimeError(f"Reservation {reservation.pk} is {reservation.status}, not held")
    reservation.status = to
    for name, value in fields.items():
        setattr(reservation, name, value)


def confirm_reservation(program, reservation_id: int, *, now: datetime | None = None) -> Reservation:
    """The order is paid: the hold becomes final. Idempotent (a paid one is returned as is).
    Raises ReservationExpired (also when held past its time), ReservationCancelled."""
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _locked(program, reservation_id)
        if reservation.status == Status.CONFIRMED:
            return reservation
        if reservation.status == Status.EXPIRED or (
            reservation.status == Status.HELD and reservation.expires_at <= now
        ):
            raise ReservationExpired()
        if reservation.status == Status.CANCELLED:
            raise ReservationCancelled()
        _move(reservation, Status.CONFIRMED, confirmed_at=now)
        return reservation


def _release(reservation: Reservation, to: str, now: datetime) -> None:
    """Give the held points and codes back and move the reservation to `to` (the caller
    holds the reservation's row lock)."""
    if reservation.points:
        ledger.return_points(
            customer=reservation.customer, points=reservation.points,
            reason=activity.order_payment_returned(reservation.order_id),
            idempotency_key=f"checkout:release:{reservation.pk}",
            expires_at=reservation.debit.expires_at if reservation.debit else None,
            source=("order", reservation.order_id),
        )  # fmt: skip
    promotions.release_codes(reservation)
    _move(reservation, to, released_at=now)


def cancel_reservation(program, reservation_id: int, *, now: datetime | None = None) -> Reservation:
    """Release a hold (points and codes back). Idempotent for a cancelled or expired one.
    Raises ReservationConfirmed for a paid order (a refund event undoes that)."""
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _locked(program, reservation_id)
        if reservation.status == Status.CONFIRMED:
            raise ReservationConfirmed()
        if reservation.status == Status.HELD:
            _release(reservation, Status.CANCELLED, now)
        return reservation


def expire_reservations(now: datetime | None = None, *, limit: int = 500) -> int:
    """Beat: release holds past their time (SKIP LOCKED: a confirm or cancel in progress
    keeps its row, and two sweeps never take the same one). Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    ids = list(
        Reservation.objects.filter(status=Status.HELD, expires_at__lte=now).order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )  # fmt: skip
    for pk in ids:
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("customer", "debit")
                .filter(pk=pk, status=Status.HELD, expires_at__lte=now)
                .first()
            )
            if reservation is None:
                continue
            _release(reservation, Status.EXPIRED, now)
            expired += 1
    return expired
