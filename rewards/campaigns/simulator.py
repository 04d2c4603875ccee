"""The simulator: a dry run of a campaign over a past period of stored events.

It runs the same selection (triggers.py) and planning (engine.plan: already-recorded
occurrences dropped, per-customer limits) as the real evaluation, then prices every action
with the same formulas and charges an in-memory copy of the budget. It writes nothing: it only
reads, and it runs inside a transaction that is always rolled back as a safety net.

Deferred triggers (cart abandoned, ticket unresolved) are decided at once against the stored
events; delayed actions are counted as if released. Survey and message counts are before the
contact policy and survey throttling, which may still hold or skip some sends.
"""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.db import transaction

from engagement.models import Event
from rewards.campaigns import actions as action_kinds
from rewards.campaigns import engine, triggers
from rewards.campaigns.limits import Budget
from rewards.campaigns.models import CampaignEffect

SAMPLE_SIZE = 20
MAX_DAYS = 366


def candidates_for_period(campaign, start, end):
    kind = campaign.trigger_kind
    if kind in triggers.EVENT_KINDS:
        events = Event.objects.filter(program_id=campaign.program_id, occurred_at__gte=start, occurred_at__lt=end)
        found = triggers.select_event_candidates(campaign, events)
        if kind not in triggers.DEFERRED_KINDS:
            return found
        decided = []
        for c in found:
            due = triggers.deferred_due_at(campaign, c.occurred_at)
            if triggers.deferred_still_holds(campaign, c.customer_id, c.occurred_at, due, c.context):
                decided.append(triggers.Candidate(c.customer_id, c.occurrence, due, c.value, c.context))
        return decided
    if kind in triggers.TRANSITION_KINDS:
        from engagement.models import ScoreTransition

        transitions = ScoreTransition.objects.filter(
            program_id=campaign.program_id, occurred_at__gte=start, occurred_at__lt=end
        )
        return triggers.transition_candidates(campaign, list(transitions))
    if kind == campaign.Trigger.INACTIVITY:
        return triggers.inactivity_candidates(campaign, end)
    out, seen_periods = [], set()
    day = start
    for _ in range(MAX_DAYS):
        if day >= end:
            break
        if kind == campaign.Trigger.DATE:
            out += triggers.date_candidates(campaign, day)
        else:
            period = triggers.schedule_period(campaign, day)
            if period and period not in seen_periods:
                seen_periods.add(period)
                out += triggers.schedule_candidates(campaign, day, period)
        day += timedelta(days=1)
    return out


def simulate(campaign, start, end):
    """What running `campaign` over [start, end) would do; a dict (see the API docs)."""
    with transaction.atomic():
        report = _simulate(campaign, start, end)
        transaction.set_rollback(True)  # read-only by construction; doubly sure
    return report


def _simulate(campaign, start, end):
    planned = engine.plan(campaign, candidates_for_period(campaign, start, end)).rows
    budget = Budget(campaign)
    actions = list(campaign.actions.all())
    factors = engine.multipliers({c.customer_id for c, _ in planned})
    statuses, per_kind = Counter(), Counter()
    points, money, customers, sample = 0, Decimal("0"), set(), []
    exhausted_at = None
    for candidate, status in planned:
        if status == CampaignEffect.Status.QUALIFIED and not budget.admit():
            exhausted_at = exhausted_at or candidate.occurred_at
            statuses[CampaignEffect.Status.BUDGET_EXHAUSTED] += 1
            break
        if status != CampaignEffect.Status.QUALIFIED:
            statuses[status] += 1
            continue
        effect = CampaignEffect(campaign=campaign, occurrence=candidate.occurrence, value=candidate.value)
        costs = [action_kinds.estimate_cost(a, effect, factors.get(candidate.customer_id, 1)) for a in actions]
        cost_points, cost_money = sum(p for p, _ in costs), sum((m for _, m in costs), Decimal("0"))
        if budget.spent_out or not budget.charge(cost_points, cost_money):
            exhausted_at = exhausted_at or candidate.occurred_at
            statuses[CampaignEffect.Status.BUDGET_EXHAUSTED] += 1
            budget.grants -= 1
            continue
        statuses[status] += 1
        customers.add(candidate.customer_id)
        points += cost_points
        money += cost_money
        for action, (p, m) in zip(actions, costs):
            if action.kind not in (action.Kind.GRANT_POINTS, action.Kind.CREATE_PAYOUT) or p or m:
                per_kind[action.kind] += 1
        if len(sample) < SAMPLE_SIZE:
            sample.append((candidate, cost_points, cost_money))
    return _report(campaign, start, end, statuses, per_kind, customers, points, money, sample, exhausted_at)


def _report(campaign, start, end, statuses, per_kind, customers, points, money, sample, exhausted_at):
    from engagement.models import Customer

    external = dict(
        Customer.objects.filter(id__in={c.customer_id for c, _, _ in sample}).values_list("id", "external_id")
    )
    return {
        "campaign": campaign.pk,
        "start": start,
        "end": end,
        "customers": len(customers),
        "qualified": statuses[CampaignEffect.Status.QUALIFIED],
        "limited": statuses[CampaignEffect.Status.LIMITED],
        "over_budget": statuses[CampaignEffect.Status.BUDGET_EXHAUSTED],
        "budget_exhausted_at": exhausted_at,
        "actions": {kind: per_kind.get(kind, 0) for kind in action_kinds.A.values},
        "points": points,
        "money": money.quantize(Decimal("0.01")),
        "currency": campaign.program.currency,
        "sample": [
            {
                "customer": external.get(c.customer_id, ""),
                "occurrence": c.occurrence,
                "occurred_at": c.occurred_at,
                "points": p,
                "money": m.quantize(Decimal("0.01")),
            }
            for c, p, m in sample
        ],
    }
