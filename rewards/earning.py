"""The base earn rule and purchase refunds, run by engagement processing (event handler
registered in RewardsConfig.ready) inside the processing transaction, set-based per batch.

- purchase (value in the program's currency): the earning rules of rewards.checkout.rules
  over the event's `lines` (without lines: floor(value x points_per_currency_unit x tier
  multiplier)), the same computation as the checkout preview, keyed `earn:purchase:<event_id>` (a replayed event earns
  nothing), held pending for the program's return window counted from the purchase time.
- refund (order_id, value): takes back value/purchase value of the points that order
  earned (pending first, then the balance as far as it goes; the rest is recorded).
- referral_sent / referral_converted, and a referred friend's qualifying purchase:
  rewards.referrals.
Then tiers of the customers who earned are recomputed (upgrades happen at once).
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Sum

from engagement.models import Event, Program
from rewards import activity, grant_batch, ledger, referrals, tiers
from rewards.checkout import refunds as checkout_refunds
from rewards.checkout import rules as earning_rules
from rewards.models import EntryKind, LedgerEntry, RewardsSettings

HANDLED = ("purchase", "refund", "referral_sent", "referral_converted")


def handle_events(program_id, event_ids):
    """engagement.hooks event handler: (program_id, event_ids) of newly processed events."""
    events = list(
        Event.objects.filter(pk__in=list(event_ids), program_id=program_id, type__in=HANDLED)
        .select_related("customer")
        .order_by("id")
    )
    if not events:
        return
    program = Program.objects.get(pk=program_id)
    purchases = [e for e in events if e.type == "purchase"]
    earned = earn_for_purchases(program, purchases)
    refunds = [e for e in events if e.type == "refund"]
    if refunds:
        grant_batch.flush()  # a clawback reads the order's entries and lots: write them first
    for refund in refunds:
        claw_back_refund(program, refund)
        checkout_refunds.return_spent_points(program, refund)
    referrals.record_referral_events(program, [e for e in events if e.type.startswith("referral_")])
    referrals.reward_qualifying_purchases(program, purchases)
    if earned:
        tiers.recompute_tiers(program, customer_ids={g.customer.pk for g in earned})


def earn_for_purchases(program, purchases):
    """Grant base points for purchase events (queued for the batch's bulk ledger write,
    rewards.grant_batch); returns the grants."""
    settings = RewardsSettings.get_for(program)
    multipliers = tiers.get_multipliers({e.customer_id for e in purchases})
    window = timedelta(days=settings.return_window_days)
    rules = earning_rules.load_rules(program) if purchases else None
    grants = []
    for event in purchases:
        if event.value is None or (event.currency and event.currency != program.currency):
            continue  # no FX: only purchases in the program's currency earn
        lines = earning_rules.lines_from_properties(event.properties) or [
            earning_rules.Line("", "", 1, Decimal(event.value))
        ]
        points, _per_line = earning_rules.earn_lines(
            lines, rate=settings.points_per_currency_unit, tier_multiplier=multipliers.get(event.customer_id, 1),
            rules=rules,
        )  # fmt: skip
        if points <= 0:
            continue
        order = str(event.properties.get("order_id") or event.event_id)
        grants.append(
            ledger.Grant(
                customer=event.customer,
                points=points,
                reason=activity.purchase(order, event.value, event.currency or program.currency),
                idempotency_key=f"earn:purchase:{event.event_id}",
                actor="earn rule",
                source=("order", order),
                pending_until=event.occurred_at + window if settings.return_window_days else None,
                earned_at=event.occurred_at,
            )
        )
    grant_batch.add(program, grants)
    return grants


def claw_back_refund(program, refund):
    """Claw back the share of an order's points that a refund event returns."""
    order = str(refund.properties.get("order_id") or "")
    if not order:
        return None
    earned = LedgerEntry.objects.filter(
        program=program, customer=refund.customer, kind=EntryKind.EARN, source_type="order", source_id=order
    )
    if not earned.exists():
        return None
    bought = Event.objects.filter(
        program=program, customer=refund.customer, type="purchase", properties__order_id=order
    ).aggregate(v=Sum("value"))["v"]
    fraction = 1.0 if not bought or refund.value is None else min(1.0, float(refund.value / bought))
    return ledger.claw_back(
        customer=refund.customer,
        source_type="order",
        source_id=order,
        fraction=fraction,
        refund_key=f"refund:event:{refund.event_id}",
        reason=activity.purchase_refund(order),
    )
