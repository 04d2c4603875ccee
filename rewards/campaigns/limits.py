"""Per-customer limits and campaign budgets.

Per-customer limits ("once ever", "N times", "N per period") count the campaign's qualified
effects. They are race-safe because the caller holds the candidate customers' rows locked
(engagement's processing already does for its batch; other paths lock them first, by id).

Budgets (points, money, total grants) are charged on a `Budget` opened with the campaign row
locked (`SELECT ... FOR UPDATE`), so concurrent workers charge one after the other and the
counters can never pass the budget (a CHECK constraint backs this up). Campaigns without any
budget are never locked, so they do not serialise concurrent batches; their totals are
computed from ActionRun rows (stats.py).

Lock order everywhere: customers (by id) -> campaigns (by -priority, id) -> points accounts.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.db import connection

from rewards.campaigns import states
from rewards.campaigns.models import Campaign, CampaignEffect

EFFECT = CampaignEffect.Status
BUDGET_EXHAUSTED = "budget_exhausted"


def _period(campaign):
    return timedelta(days=campaign.per_customer_period_days) if campaign.per_customer_period_days else None


def read_limit_usage(selections):
    """{campaign id: {customer id: [occurred_at]}}: the qualified effects that count toward
    the per-customer limits of [(campaign, candidates)], in ONE query for all the campaigns
    (each from its own period start before its earliest candidate). The caller holds the
    candidates' customer rows locked."""
    usage = {campaign.pk: defaultdict(list) for campaign, _ in selections}
    if not selections:
        return usage
    since = []
    for campaign, candidates in selections:
        period = _period(campaign)
        since.append(min(c.occurred_at for c in candidates) - period if period is not None else None)
    customers = sorted({c.customer_id for _, candidates in selections for c in candidates})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.campaign_id, e.customer_id, e.occurred_at FROM {CampaignEffect._meta.db_table} e"
            " JOIN unnest(%s::bigint[], %s::timestamptz[]) AS l(campaign_id, since) ON l.campaign_id = e.campaign_id"
            " WHERE e.customer_id = ANY(%s) AND e.status = %s AND (l.since IS NULL OR e.occurred_at > l.since)",
            [[campaign.pk for campaign, _ in selections], since, customers, EFFECT.QUALIFIED.value],
        )
        for campaign_id, customer_id, occurred_at in cursor.fetchall():
            usage[campaign_id][customer_id].append(occurred_at)
    return usage


def apply_customer_limits(campaign, candidates, used=None):
    """[(candidate, status)] in (customer, time) order: QUALIFIED or LIMITED per the campaign's
    per-customer limit, counting existing qualified effects and earlier candidates. `used`:
    {customer id: [times]} of those effects when the caller read them (read_limit_usage, from
    before the earliest of `candidates`), else they are read here."""
    ordered = sorted(candidates, key=lambda c: (c.customer_id, c.occurred_at, c.occurrence))
    limit = campaign.per_customer_limit
    if not limit or not ordered:
        return [(c, EFFECT.QUALIFIED) for c in ordered]
    period = _period(campaign)
    if used is None:
        used = read_limit_usage([(campaign, ordered)])[campaign.pk]
    times = defaultdict(list, {customer_id: list(seen) for customer_id, seen in used.items()})
    out = []
    for candidate in ordered:
        seen = times[candidate.customer_id]
        if period is not None:
            used = sum(1 for t in seen if candidate.occurred_at - period < t <= candidate.occurred_at)
        else:
            used = len(seen)
        if used >= limit:
            out.append((candidate, EFFECT.LIMITED))
        else:
            seen.append(candidate.occurred_at)
            out.append((candidate, EFFECT.QUALIFIED))
    return out


class Budget:
    """The campaign's budget counters for one transaction (or one dry run).

    `open(campaign)` locks the row and re-reads it; a dry run uses `Budget(campaign)` and never
    writes. `admit()` takes one grant, `charge(points, money)` the cost of an effect's actions;
    both return False (and set `exhausted`) when the budget does not cover it.
    """

    def __init__(self, campaign):
        self.campaign = campaign
        self.points = campaign.spent_points
        self.money = campaign.spent_money
        self.grants = campaign.grants_count
        self.exhausted = False  # by grants or by cost: the campaign pauses at close()
        self.spent_out = False  # by cost: no further action may be charged in this pass
        self.changed = False

    @classmethod
    def open(cls, campaign):
        if campaign.has_budget:
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            for name in ("status", "spent_points", "spent_money", "grants_count", "budget_points", "budget_money"):
                setattr(campaign, name, getattr(locked, name))
            campaign.max_grants = locked.max_grants
        return cls(campaign)

    @property
    def active(self):
        return self.campaign.status == Campaign.Status.ACTIVE and not self.exhausted

    def admit(self):
        max_grants = self.campaign.max_grants
        if max_grants is not None and self.grants + 1 > max_grants:
            self.exhausted = True
            return False
        self.grants += 1
        self.changed = True
        return True

    def charge(self, points, money):
        c = self.campaign
        if (c.budget_points is not None and self.points + points > c.budget_points) or (
            c.budget_money is not None and self.money + money > c.budget_money
        ):
            self.exhausted = self.spent_out = True
            return False
        self.points += points
        self.money += money
        self.changed = self.changed or bool(points or money)
        return True

    def refund(self, points, money):
        self.points -= points
        self.money -= money

    def close(self, now):
        """Write the counters (only campaigns with a budget keep them) and, when the budget ran
        out, pause the campaign and record webhook campaign.budget_exhausted."""
        c = self.campaign
        if not c.has_budget:
            return
        pause = self.exhausted and c.status == Campaign.Status.ACTIVE
        if not self.changed and not pause:
            return
        # We hold the row lock (Budget.open), so absolute values are safe here.
        Campaign.objects.filter(pk=c.pk).update(
            spent_points=self.points, spent_money=self.money, grants_count=self.grants, updated_at=now
        )
        c.spent_points, c.spent_money, c.grants_count = self.points, self.money, self.grants
        if pause and states.transition(c, Campaign.Status.PAUSED, reason=BUDGET_EXHAUSTED, now=now):
            record_budget_exhausted(c, now)


def record_budget_exhausted(campaign, now):
    from engagement.webhooks.events import record_webhook_event

    payload = {
        "campaign": campaign.pk,
        "name": campaign.name,
        "budget_points": campaign.budget_points,
        "spent_points": campaign.spent_points,
        "budget_money": str(campaign.budget_money) if campaign.budget_money is not None else None,
        "spent_money": str(campaign.spent_money),
        "currency": campaign.program.currency,
        "max_grants": campaign.max_grants,
        "grants": campaign.grants_count,
        "paused_at": now.isoformat(),
    }
    key = f"campaign.budget_exhausted:{campaign.pk}:{campaign.grants_count}:{campaign.spent_points}:{campaign.spent_money}"
    record_webhook_event(campaign.program, "campaign.budget_exhausted", payload, idempotency_key=key[:255])


def sync_counters(campaign):
    """Recompute a campaign's counters from its rows (when a budget is set on a running one)."""
    from django.db.models import Count, Sum

    from rewards.campaigns.models import ActionRun

    totals = ActionRun.objects.filter(campaign=campaign, status=ActionRun.Status.DONE).aggregate(
        points=Sum("points"), money=Sum("money")
    )
    campaign.spent_points = totals["points"] or 0
    campaign.spent_money = totals["money"] or Decimal("0")
    campaign.grants_count = CampaignEffect.objects.filter(campaign=campaign, status=EFFECT.QUALIFIED).aggregate(
        n=Count("id")
    )["n"]
