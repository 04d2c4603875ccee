"""Tiers: Bronze/Silver/Gold... by points earned over a rolling window.

Rules: an upgrade happens at once; a downgrade only at the customer's review date, and then
by at most one tier (the grace rule), after which a new review period starts. A change sets
Customer.tier, records platform event `tier_changed` ({"from", "to"}) and webhook
`tier.changed`, all in the caller's transaction.
"""

import calendar
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer
from engagement.partner_api import keycache
from engagement.webhooks.events import record_webhook_events
from rewards import grant_batch
from rewards.balances import earned_since
from rewards.models import CustomerTier, RewardsSettings, Tier

# The portal warns of a coming downgrade this many days before the review date.
DOWNGRADE_NOTICE_DAYS = 90


def get_earn_multiplier(customer):
    """The earn multiplier of the customer's current tier; Decimal 1 when no tier."""
    status = CustomerTier.objects.filter(customer=customer).select_related("tier").first()
    if status is not None and status.tier is not None:
        return status.tier.earn_multiplier
    return Decimal("1")


def get_multipliers(customer_ids):
    """{customer_id: multiplier} for customers with a tier (set-based, for the earn rule)."""
    table = CustomerTier._meta.db_table
    # customer_id = ANY(array): one parameter; an IN list of ~1,000 ids cost ~10 ms in Django.
    batch = RawSQL(f'"{table}"."customer_id" = ANY(%s)', [sorted(customer_ids)], output_field=BooleanField())
    rows = CustomerTier.objects.filter(batch, tier__isnull=False).values_list("customer_id", "tier__earn_multiplier")
    return dict(rows)


def add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def next_review(program, today):
    """The first day of the month `tier_review_months` from today."""
    months = RewardsSettings.get_for(program).tier_review_months or 12
    return add_months(today.replace(day=1), months + 1 if today.day > 1 else months)


def qualifying_tier(tiers, points):
    reached = [tier for tier in tiers if points >= tier.min_points]
    return reached[-1] if reached else None


def recompute_tiers(program, customer_ids=None, now=None):
    """Recompute tiers of the program's customers (or the given ids); returns changes made.

    Points in the window come from one grouped query; only changed rows are written, and the
    changes' events and webhooks are recorded in one batch each (_record_changes).
    """
    now = now or timezone.now()
    today = timezone.localdate(now, program_timezone(program))
    tiers = list(Tier.objects.filter(program=program).order_by("min_points"))
    if not tiers:
        return 0
    window = RewardsSettings.get_for(program).tier_window_days
    customers = Customer.objects.filter(program=program, erased_at__isnull=True)
    if customer_ids is not None:
        customers = customers.filter(pk__in=list(customer_ids))
    from django.db.models import Q

    scope = Q(program=program) if customer_ids is None else Q(customer_id__in=list(customer_ids))
    since = now - timedelta(days=window)
    # Inside event processing, the batch's grants are still queued (rewards.grant_batch).
    pending = grant_batch.earned_points(program, since)
    points = earned_since(scope, since, pending)
    states = {s.customer_id: s for s in CustomerTier.objects.filter(customer__in=customers).select_related("tier")}
    rank = {tier.pk: index for index, tier in enumerate(tiers)}
    moves, touched = [], []
    with transaction.atomic():
        for customer in customers.only("id", "external_id", "tier", "program_id"):
            earned = points.get(customer.pk, 0)
            state = states.get(customer.pk) or CustomerTier(program=program, customer=customer)
            target = decide(state, qualifying_tier(tiers, earned), tiers, rank, today)
            changed = (state.tier_id if state.tier else None) != (target.pk if target else None)
            if changed:
                renew = target is not None
                moves.append((customer, state.tier, target))
                state.tier = target
                state.achieved_at = now
                state.review_at = next_review(program, today) if renew else None
            elif state.tier is not None and state.review_at and state.review_at <= today:
                state.review_at = next_review(program, today)  # kept its tier at review: new period
            if changed or state.pk is None or state.window_points != earned or state._state.adding:
                state.window_points = earned
                touched.append(state)
        _record_changes(program, moves, now)
        for state in touched:
            state.updated_at = now
        CustomerTier.objects.bulk_create([state for state in touched if state._state.adding])
        CustomerTier.objects.bulk_update(
            [state for state in touched if not state._state.adding],
            ["tier", "window_points", "review_at", "achieved_at", "updated_at"],
        )
    return len(moves)


def program_timezone(program):
    import zoneinfo

    return zoneinfo.ZoneInfo(program.timezone)


def decide(state, qualified, tiers, rank, today):
    """The tier a customer should hold now given what they qualify for (rules above)."""
    current = state.tier
    if current is None:
        return qualified
    if qualified is not None and rank[qualified.pk] >= rank[current.pk]:
        return qualified  # upgrades (and staying) at once
    if state.review_at is None or state.review_at > today:
        return current  # downgrades wait for the review date
    # Grace rule: at review drop at most one tier.
    one_down = tiers[rank[current.pk] - 1] if rank[current.pk] > 0 else None
    if qualified is None:
        return one_down
    return qualified if rank[qualified.pk] >= rank[current.pk] - 1 else one_down


def _record_changes(program, moves, now):
    """For each (customer, old tier, new tier): Customer.tier, the platform event
    `tier_changed` and the webhook `tier.changed`, in one statement per tier name, one
    ingest batch and one webhook batch."""
    if not moves:
        return
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    by_name = {}
    events, payloads, keys = [], [], []
    for customer, old, new in moves:
        old_name, new_name = (old.name if old else ""), (new.name if new else "")
        by_name.setdefault(new_name, []).append(customer.pk)
        events.append(
            CleanEvent(
                event_id=f"tier_changed:{customer.external_id}:{stamp}",
                type="tier_changed",
                customer=customer.external_id,
                occurred_at=now,
                value=None,
                currency="",
                properties={"from": old_name, "to": new_name},
            )
        )
        payloads.append({"customer": customer.external_id, "from": old_name, "to": new_name, "at": now.isoformat()})
        keys.append(f"tier.changed:{customer.pk}:{stamp}")
    for name, ids in by_name.items():
        Customer.objects.filter(pk__in=ids).update(tier=name)
    record_events(program, events)
    record_webhook_events(program, "tier.changed", payloads, idempotency_keys=keys)


def list_program_tiers(program, epoch=None):
    """The program's tiers by min_points; with `epoch` (engagement.partner_api.keycache, read
    at the start of the request) from the per-process cache: shared, read-only."""

    def load(program):
        return list(Tier.objects.filter(program=program).order_by("min_points"))

    return load(program) if epoch is None else keycache.program_value(program, "tiers", epoch, load)


def get_tier_progress(customer, now=None, *, summary=None, epoch=None):
    """For the portal: tier, next tier and points to it, and the downgrade notice if any.

    The notice counts the points that will still be in the window on the review date.
    `summary` is the customer's get_balance_summary(with_tier=True) at the same `now` (the
    tier state and window points come from it instead of two more queries); `epoch` reads
    the tiers from the per-process cache (list_program_tiers).
    """
    now = now or timezone.now()
    program = customer.program
    tiers = list_program_tiers(program, epoch)
    window = RewardsSettings.get_for(program).tier_window_days
    from django.db.models import Q

    if summary is None:
        state = CustomerTier.objects.filter(customer=customer).select_related("tier").first()
        current = state.tier if state else None
        review_at = state.review_at if state else None
        earned = earned_since(Q(customer=customer), now - timedelta(days=window)).get(customer.pk, 0)
    else:
        by_id = {tier.pk: tier for tier in tiers}
        tier_id, review_at, earned = summary["tier_id"], summary["review_at"], summary["window_points"]
        current = by_id.get(tier_id) if tier_id is not None else None
        if tier_id is not None and current is None:  # not among the cached tiers: read it
            current = Tier.objects.filter(pk=tier_id).first()
    higher = [t for t in tiers if current is None or t.min_points > current.min_points]
    nxt = higher[0] if higher else None
    progress = {
        "tier": current,
        "window_points": earned,
        "next_tier": nxt,
        "points_to_next": max(0, nxt.min_points - earned) if nxt else 0,
        "percent": min(100, int(earned * 100 / nxt.min_points)) if nxt and nxt.min_points else 100,
        "downgrade": None,
    }
    today = timezone.localdate(now, program_timezone(program))
    if current is not None and review_at and (review_at - today).days <= DOWNGRADE_NOTICE_DAYS:
        review_start = timezone.make_aware(
            timezone.datetime.combine(review_at, timezone.datetime.min.time()), program_timezone(program)
        ) - timedelta(days=window)
        kept = earned_since(Q(customer=customer), max(review_start, now - timedelta(days=window))).get(customer.pk, 0)
        if kept < current.min_points:
            lower = [t for t in tiers if t.min_points < current.min_points]
            progress["downgrade"] = {
                "to": lower[-1] if lower else None,
                "on": review_at,
                "points_needed": current.min_points - kept,
            }
    return progress
