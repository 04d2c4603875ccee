"""Redemptions: points for a catalogue reward, in one transaction.

Lock order (the same everywhere, so nothing deadlocks): [for cash-like items the payout
request first: customer row -> funding account, payouts' own order] -> the redemption row
(when it exists) -> the points account (rewards.ledger) -> a voucher code (SKIP LOCKED) ->
the item's stock (a conditional UPDATE `stock > 0`). A payout that fails or is cancelled
runs our final handler while holding payout -> funding locks and then takes redemption ->
account; requesting the payout BEFORE the debit keeps funding-before-account on both paths.
A failure anywhere rolls the whole transaction back: no points debited, no payout, no code
or stock taken.

Fulfilment: voucher -> the code, shown at once (completed); cash and gift cards -> a payout
request (payouts.services.request_payout), completed or failed by the payout's final status
(handle_payout_final, registered in RewardsConfig.ready); a card from a provider's catalogue
is ordered as a link/embedded code whose credential is kept (encrypted) for the portal;
other kinds -> completed (the program ships or books them). A failure refunds the points and puts the code or stock back.
"""

import logging
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from engagement.models import Customer, Program
from payouts.models import Method, Payout
from payouts.services import PayoutError, request_payout
from rewards import activity, ledger
from rewards.catalogue import eligibility_error
from rewards.errors import InsufficientPoints, ItemUnavailable, OutOfStock, RewardsError
from rewards.fulfilment import start_fulfilment
from rewards.models import EntryKind, Redemption, RewardItem, RewardKind
from rewards.notify import webhook
from rewards.provider_rewards import payout_product
from rewards.vouchers import release_code, take_code

logger = logging.getLogger(__name__)

# Methods whose destination is just the customer's email (a bank transfer would need
# account details the portal does not collect); an item may name another in payout_method.
DEFAULT_PAYOUT_METHOD = {RewardKind.CASH: Method.PAYPAL, RewardKind.GIFT_CARD: Method.GIFT_CARD}


class IdempotencyConflict(RewardsError):
    code = "idempotency_key_reused"
    message = "This idempotency key was already used for another redemption."
    status = 422


def redeem_reward(
    *,
    customer: Customer,
    item: RewardItem,
    idempotency_key: str,
    channel: str = "api",
    actor: object = None,
    product: str = "",
    fulfilment: dict[str, Any] | None = None,
) -> Redemption:
    """Debit the item's points and reserve its stock or code; fulfil or start a payout.
    Merchandise, donation and experience rewards start a `requested` fulfilment with
    `fulfilment` details (shipping address, charity; rewards.fulfilment.start_fulfilment).

    Idempotent by (program, idempotency_key): a repeat returns the first redemption (a
    different customer or item with that key -> IdempotencyConflict). Raises
    InsufficientPoints, OutOfStock, NotEligible, ItemUnavailable with nothing changed.
    Webhook redemption.completed on completion (recorded in this transaction).
    """
    return _create(
        customer,
        item,
        idempotency_key,
        channel=channel,
        actor=actor,
        source=Redemption.Source.CUSTOMER,
        product=product,
        fulfilment=fulfilment,
    )


def grant_reward(*, customer: Customer, item: RewardItem, idempotency_key: str, source: str = "campaign") -> Redemption:
    """Give a catalogue reward free (a campaign's prize): no points, no tier/segment check,
    but stock or a code is reserved as for a redemption. Idempotent by key. Records webhook
    reward.granted (and redemption.completed when fulfilled at once)."""
    source = source if source in Redemption.Source.values else Redemption.Source.CAMPAIGN
    redemption = _create(customer, item, idempotency_key, channel=source, actor=None, source=source, free=True)
    return redemption


def _existing(customer, item, key):
    found = Redemption.objects.filter(program_id=customer.program_id, idempotency_key=key).first()
    if found is not None and (found.customer_id != customer.pk or found.item_id != item.pk):
        raise IdempotencyConflict()
    return found


def _create(customer, item, key, *, channel, actor, source, free=False, product="", fulfilment=None):
    found = _existing(customer, item, key)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            redemption = _redeem_in_transaction(customer, item, key, channel, actor, source, free, product)
            start_fulfilment(redemption, fulfilment)
            return redemption
    except IntegrityError:
        # The same key committed by a concurrent request between our check and insert.
        found = _existing(customer, item, key)
        if found is None:
            raise
        return found


def _redeem_in_transaction(customer, item, key, channel, actor, source, free, product=""):
    now = timezone.now()
    error = eligibility_error(item, customer, now, check_audience=not free)
    if error is not None:
        raise error
    redemption = Redemption.objects.create(
        program_id=customer.program_id,
        customer=customer,
        item=item,
        points=0 if free else item.points_cost,
        cash_value=item.cash_value,
        currency=item.get_currency(),
        source=source,
        channel=channel[:20],
        idempotency_key=key,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    if item.is_cash_like:
        if not free and ledger.get_account(customer).balance < item.points_cost:
            raise InsufficientPoints()  # early exit only; the real check is under the lock below
        redemption.payout_id = _request_payout(redemption, item, product).pk
    if not free:
        ledger.debit_points(
            customer,
            item.points_cost,
            kind=EntryKind.REDEEM,
            reason=activity.redeem(item),
            idempotency_key=f"redeem:redemption:{redemption.pk}",
            actor=actor or channel,
            source=redemption,
            redemption=redemption,
        )
    if item.kind == RewardKind.VOUCHER and take_code(item, redemption) is None:
        raise OutOfStock()
    _reserve_stock(item, redemption)
    if item.is_cash_like:
        redemption.save(update_fields=["payout_id", "stock_reserved"])
    else:
        _complete(redemption, now)
    if free:
        webhook(
            redemption.program,
            "reward.granted",
            {**redemption_payload(redemption), "kind": "reward"},
            f"reward.granted:redemption:{redemption.pk}",
        )
    return redemption


def _reserve_stock(item, redemption):
    if item.stock is None:
        return
    # Conditional UPDATE: the database refuses to go below zero, whatever ran in between.
    if not RewardItem.objects.filter(pk=item.pk, stock__gt=0).update(stock=F("stock") - 1):
        raise OutOfStock()
    redemption.stock_reserved = True
    redemption.save(update_fields=["stock_reserved"])


def _request_payout(redemption, item, product=""):
    customer = redemption.customer
    try:
        return _call_request_payout(request_payout, redemption, item, customer, payout_product(item, product))
    except PayoutError as exc:
        # The payout rules refused (no email, bad amount...): the whole redemption rolls back.
        raise ItemUnavailable(str(exc.detail)) from None


def _payout_method(item, product):
    if item.payout_method:
        return item.payout_method
    if product is not None and item.kind == RewardKind.GIFT_CARD:
        # A synced card is ordered for us to hand over (Tremendous LINK, Tango EMBEDDED):
        # the portal shows its code or link (rewards.credentials), not only an email.
        return Method.VOUCHER
    return DEFAULT_PAYOUT_METHOD.get(item.kind, Method.GIFT_CARD)


def _call_request_payout(request_payout, redemption, item, customer, product=None):
    destination = {"email": customer.email, "name": customer.name}
    if product is not None:
        destination["product"] = product.product_id
    return request_payout(
        program=redemption.program,
        customer=customer,
        amount=Decimal(item.cash_value),
        currency=redemption.currency,
        method=_payout_method(item, product),
        destination=destination,
        provider=product.provider if product is not None else None,
        source="redemption",
        source_ref=str(redemption.pk),
        idempotency_key=f"redemption:{redemption.pk}",
    )


def _complete(redemption, now):
    redemption.status = Redemption.Status.COMPLETED
    redemption.completed_at = now
    redemption.save(update_fields=["status", "completed_at"])
    webhook(
        redemption.program,
        "redemption.completed",
        redemption_payload(redemption),
        f"redemption.completed:{redemption.pk}",
    )


def fail_redemption(redemption_id: int, reason: str) -> Redemption:
    """Mark a processing redemption failed: refund its points, return its code and stock.

    Idempotent: a redemption that is not processing is left as it is. Locks the redemption
    row first (then the account, via ledger). Webhook redemption.failed. Returns it.
    """
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("customer", "program", "item")
            .get(pk=redemption_id)
        )
        if redemption.status != Redemption.Status.PROCESSING:
            return redemption
        if redemption.points:
            ledger.refund_redemption_points(redemption, activity.redemption_refund(redemption, reason))
        release_code(redemption)
        if redemption.stock_reserved:
            RewardItem.objects.filter(pk=redemption.item_id, stock__isnull=False).update(stock=F("stock") + 1)
        redemption.status = Redemption.Status.FAILED
        redemption.failure_reason = str(reason)[:255]
        redemption.failed_at = timezone.now()
        redemption.credentials_sealed = ""  # nothing was delivered: keep no code
        redemption.save(update_fields=["status", "failure_reason", "failed_at", "credentials_sealed"])
        webhook(
            redemption.program,
            "redemption.failed",
            redemption_payload(redemption),
            f"redemption.failed:{redemption.pk}",
        )
        return redemption


def return_redemption(redemption: Redemption) -> None:
    """A completed redemption whose goods came back (rewards.fulfilment's `returned`):
    refund its points (once: the ledger's key is per redemption), put its stock back and
    mark it returned. Inside the caller's transaction, holding the redemption row lock."""
    if redemption.status != Redemption.Status.COMPLETED:
        return
    if redemption.points:
        ledger.refund_redemption_points(redemption, activity.redemption_refund(redemption, "returned"))
    if redemption.stock_reserved:
        RewardItem.objects.filter(pk=redemption.item_id, stock__isnull=False).update(stock=F("stock") + 1)
    redemption.status = Redemption.Status.RETURNED
    redemption.save(update_fields=["status"])


def complete_redemption(redemption_id: int) -> Redemption:
    """Mark a processing redemption completed (a payout succeeded, or shipped by staff)."""
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("program", "customer", "item")
            .get(pk=redemption_id)
        )
        if redemption.status == Redemption.Status.PROCESSING:
            _complete(redemption, timezone.now())
        return redemption


def _record_provider_delivery(redemption_id, payout_id):
    """Keep the provider's order id; the code/PIN/link it issued was sealed on the
    redemption when its answer came (rewards.credentials.keep_payout_credentials)."""
    payout = Payout.objects.only("provider_reference").get(pk=payout_id)
    Redemption.objects.filter(pk=redemption_id).update(provider_order=payout.provider_reference[:128])


def handle_payout_final(payout_id: int, status: str) -> None:
    """payouts final-status hook: succeeded -> completed; failed/cancelled/reversed -> failed
    (points refunded). Runs inside the payout's transaction."""
    for redemption_id in Redemption.objects.filter(payout_id=payout_id).values_list("pk", flat=True):
        if status == "succeeded":
            _record_provider_delivery(redemption_id, payout_id)
            complete_redemption(redemption_id)
        elif status in ("failed", "cancelled", "reversed"):
            fail_redemption(redemption_id, f"payout {status}")


def redemption_payload(redemption: Redemption) -> dict[str, Any]:
    return {
        "id": redemption.pk,
        "customer": redemption.customer.external_id,
        "reward": redemption.item_id,
        "title": redemption.item.title_en,
        "points": redemption.points,
        "status": redemption.status,
        "code": redemption.code,
        "payout": redemption.payout_id,
        "source": redemption.source,
        "failure_reason": redemption.failure_reason,
    }


def get_redemption(program: Program, redemption_id: int | str, customer: Customer | None = None) -> Redemption | None:
    """The program's (and customer's, when given) redemption, or None."""
    qs = Redemption.objects.filter(program=program).select_related(
        "item", "customer", "voucher_code", "fulfilment", "fulfilment__charity"
    )
    if customer is not None:
        qs = qs.filter(customer=customer)
    try:
        return qs.get(pk=int(redemption_id))
    except (Redemption.DoesNotExist, ValueError, TypeError):
        return None
