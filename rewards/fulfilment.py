"""Fulfilment of merchandise, donation and experience rewards: the one door to
`Fulfilment.status` (a transition table, a conditional UPDATE, a history row per move).

    merchandise  requested -> shipped (carrier, tracking) -> delivered
                 requested | shipped | delivered -> returned (points refunded, stock back)
    donation     requested -> donated (receipt number and date; the charity was chosen
                 at redemption)
    experience   requested -> booked (booking code)

Digital rewards (vouchers, gift cards, cash) have no fulfilment: they complete at once or
with their payout. The redemption itself is `completed` (its points were spent); a return
makes it `returned` and refunds them through the ledger, exactly once (the move is
conditional and the ledger's refund key is per redemption; rewards.redemptions).

Lock order: the redemption row, then the fulfilment row, then the points account (the
ledger) — the same order rewards.redemptions uses — so a return never deadlocks a payout
hook. Each move records webhook `fulfilment.<status>` in its transaction.
"""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.state_machine import IllegalTransition, StateMachine
from rewards.errors import RewardsError
from rewards.models import (
    Charity,
    Fulfilment,
    FulfilmentStatus,
    FulfilmentStatusChange,
    Redemption,
    RewardKind,
)
from rewards.notify import webhook

S = FulfilmentStatus
TRANSITIONS = {
    S.REQUESTED: frozenset({S.SHIPPED, S.RETURNED, S.DONATED, S.BOOKED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.RETURNED}),
    S.RETURNED: frozenset(),
    S.DONATED: frozenset(),
    S.BOOKED: frozenset(),
}
# The statuses each kind may reach: a donation is never shipped, a parcel never booked.
KIND_STATUSES = {
    RewardKind.MERCHANDISE: frozenset({S.REQUESTED, S.SHIPPED, S.DELIVERED, S.RETURNED}),
    RewardKind.DONATION: frozenset({S.REQUESTED, S.DONATED}),
    RewardKind.EXPERIENCE: frozenset({S.REQUESTED, S.BOOKED}),
}
FULFILLED_KINDS = frozenset(KIND_STATUSES)

MACHINE = StateMachine(
    model=Fulfilment,
    history=FulfilmentStatusChange,
    subject="subject",
    transitions=TRANSITIONS,
    initial=frozenset({S.REQUESTED}),
    stamp=lambda: {"updated_at": timezone.now()},
)


class FulfilmentMoveRefused(RewardsError):
    code = "illegal_transition"
    attr = "status"
    status = 409

    def __init__(self, fulfilment: Fulfilment, to_status: str):
        super().__init__(
            _("A %(kind)s reward that is %(status)s cannot become %(target)s.")
            % {
                "kind": fulfilment.get_kind_display().lower(),
                "status": fulfilment.get_status_display().lower(),
                "target": S(to_status).label.lower(),
            }
        )


class FulfilmentDetailsInvalid(RewardsError):
    code = "invalid_fulfilment"
    attr = "fulfilment"
    status = 400


def allowed_pairs() -> list[tuple[str, str]]:
    return MACHINE.allowed_pairs()


def next_statuses(fulfilment: Fulfilment) -> list[str]:
    """The statuses this fulfilment may move to now (its kind's, in the table's order)."""
    order = list(S)
    allowed = TRANSITIONS[S(fulfilment.status)] & KIND_STATUSES[RewardKind(fulfilment.kind)]
    return sorted(allowed, key=order.index)


def start_fulfilment(redemption: Redemption, details: dict[str, Any] | None = None) -> Fulfilment | None:
    """Create the `requested` fulfilment of a merchandise, donation or experience redemption
    (None for other kinds), inside the redemption's transaction. `details`: the shipping
    fields (`ship_*`) already validated by the caller's form, and/or `charity` (a Charity of
    the program, or its id). Raises FulfilmentDetailsInvalid for a charity of another
    program or one no longer offered."""
    if redemption.item.kind not in FULFILLED_KINDS:
        return None
    details = dict(details or {})
    fulfilment = Fulfilment(program_id=redemption.program_id, redemption=redemption, kind=redemption.item.kind)
    if redemption.item.kind == RewardKind.MERCHANDISE:
        for name, value in details.items():
            if name.startswith("ship_") and hasattr(fulfilment, name):
                setattr(fulfilment, name, str(value or "").strip())
    charity = details.get("charity")
    if redemption.item.kind == RewardKind.DONATION and charity:
        charity_id = charity.pk if isinstance(charity, Charity) else charity
        found = Charity.objects.filter(pk=charity_id, program_id=redemption.program_id, active=True).first()
        if found is None:
            raise FulfilmentDetailsInvalid(_("Choose one of the charities offered."))
        fulfilment.charity = found
    return MACHINE.create(fulfilment, S.REQUESTED, reason="redeemed")


def mark_shipped(fulfilment_id: int, *, carrier: str, tracking_number: str, actor: Any = None) -> Fulfilment:
    """requested -> shipped with the carrier and tracking number (both required)."""
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier or not tracking_number:
        raise FulfilmentDetailsInvalid(_("Give the carrier and the tracking number."))
    return _move(
        fulfilment_id, S.SHIPPED, actor,
        {"carrier": carrier[:60], "tracking_number": tracking_number[:80], "shipped_at": timezone.now()},
    )  # fmt: skip


def mark_delivered(fulfilment_id: int, *, actor: Any = None) -> Fulfilment:
    """shipped -> delivered."""
    return _move(fulfilment_id, S.DELIVERED, actor, {"delivered_at": timezone.now()})


def mark_returned(fulfilment_id: int, *, actor: Any = None, reason: str = "") -> Fulfilment:
    """requested/shipped/delivered -> returned: the points go back through the ledger and
    the item's stock is restored, exactly once (a second return is refused)."""
    return _move(fulfilment_id, S.RETURNED, actor, {"returned_at": timezone.now()}, reason=reason)


def mark_donated(fulfilment_id: int, *, receipt_number: str = "", actor: Any = None) -> Fulfilment:
    """requested -> donated with a receipt number (given, or `D-<year>-<fulfilment id>`)."""
    now = timezone.now()
    receipt = receipt_number.strip()[:40] or f"D-{now:%Y}-{fulfilment_id:06d}"
    return _move(fulfilment_id, S.DONATED, actor, {"receipt_number": receipt, "donated_at": now})


def mark_booked(fulfilment_id: int, *, booking_code: str, actor: Any = None) -> Fulfilment:
    """requested -> booked with the booking code (required)."""
    booking_code = booking_code.strip()
    if not booking_code:
        raise FulfilmentDetailsInvalid(_("Give the booking code."))
    return _move(fulfilment_id, S.BOOKED, actor, {"booking_code": booking_code[:80], "booked_at": timezone.now()})


def _move(fulfilment_id, to_status, actor, updates, reason=""):
    with transaction.atomic():
        redemption_id = Fulfilment.objects.filter(pk=fulfilment_id).values_list("redemption_id", flat=True).first()
        if redemption_id is None:
            raise Fulfilment.DoesNotExist(fulfilment_id)
        # Lock order: redemption, then fulfilment (then the account, in the ledger).
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("customer", "program", "item")
            .get(pk=redemption_id)
        )
        fulfilment = Fulfilment.objects.select_for_update().get(pk=fulfilment_id)
        fulfilment.redemption = redemption
        if to_status not in KIND_STATUSES[fulfilment.kind] or not MACHINE.can_move(fulfilment.status, to_status):
            raise FulfilmentMoveRefused(fulfilment, to_status)
        try:
            MACHINE.transition(fulfilment, to_status, actor=_user(actor), reason=reason, updates=updates)
        except IllegalTransition:
            raise FulfilmentMoveRefused(fulfilment, to_status) from None
        except IntegrityError:
            # donation_receipt_unique: the receipt number is the program's already.
            raise FulfilmentDetailsInvalid(_("That receipt number is already used.")) from None
        if to_status == S.RETURNED:
            # Imported here: rewards.redemptions starts fulfilments (imports this module).
            from rewards.redemptions import return_redemption

            return_redemption(redemption)
        webhook(
            redemption.program,
            f"fulfilment.{to_status}",
            fulfilment_payload(fulfilment),
            f"fulfilment.{to_status}:{fulfilment.pk}",
        )
        return fulfilment


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def fulfilment_payload(fulfilment: Fulfilment) -> dict[str, Any]:
    """The webhook body of a fulfilment move (no address: partners get the shipment only)."""
    redemption = fulfilment.redemption
    payload: dict[str, Any] = {
        "redemption": redemption.pk,
        "customer": redemption.customer.external_id,
        "reward": redemption.item_id,
        "kind": fulfilment.kind,
        "status": fulfilment.status,
    }
    if fulfilment.kind == RewardKind.MERCHANDISE:
        payload.update(carrier=fulfilment.carrier, tracking_number=fulfilment.tracking_number)
    elif fulfilment.kind == RewardKind.DONATION:
        payload.update(
            charity=fulfilment.charity.name_en if fulfilment.charity_id else "",
            receipt_number=fulfilment.receipt_number,
            amount=str(redemption.cash_value),
            currency=redemption.currency,
        )
    else:
        payload.update(booking_code=fulfilment.booking_code)
    return payload


def get_fulfilment(program_id: int, fulfilment_id: int) -> Fulfilment | None:
    """The program's fulfilment, or None (tenancy: another program's id finds nothing)."""
    return Fulfilment.objects.filter(program_id=program_id, pk=fulfilment_id).first()
