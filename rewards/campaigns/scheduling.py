"""Beat-driven work: delayed actions, deferred triggers, scheduled triggers, start/end dates.

Delays are rows, not broker ETAs (DESIGN.md): a pending ActionRun or PendingTrigger with a
`due_at`. A sweep claims due rows with `SELECT ... FOR UPDATE SKIP LOCKED` (two beat workers
never take the same row), re-checks that the reason still holds, acts and marks them, all in
one transaction: a crash leaves them pending for the next sweep.

Lock order (limits.py): the claimed rows' customers are locked first, by id, then campaigns.
"""

from collections import defaultdict

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from engagement.models import Event
from rewards.campaigns import actions as action_kinds
from rewards.campaigns import engine, states, triggers
from rewards.campaigns.conditions import matching_customer_ids
from rewards.campaigns.limits import Budget
from rewards.campaigns.models import ActionRun, Campaign, PendingTrigger

RUN = ActionRun.Status
RELEASE_BATCH = 200


def _claim(queryset, limit):
    return list(queryset.select_for_update(skip_locked=True, of=("self",)).order_by("due_at", "id")[:limit])


def _by_campaign(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[row.campaign_id].append(row)
    campaigns = Campaign.objects.select_related("program").prefetch_related("actions").in_bulk(list(groups))
    ordered = sorted(campaigns.values(), key=lambda c: (-c.priority, c.pk))
    return [(campaign, groups[campaign.pk]) for campaign in ordered]


def release_due_actions(now=None, limit=RELEASE_BATCH):
    """Run the delayed actions that are due; returns how many rows were settled.

    Cancelled (with the reason) when the campaign is no longer active, the customer no longer
    matches the audience and conditions, or had the action's `cancel_if_event_type` event
    since the trigger. Budget charged when the action runs, under the campaign lock.
    """
    now = now or timezone.now()
    with transaction.atomic():
        runs = _claim(ActionRun.objects.filter(status=RUN.PENDING, due_at__lte=now), limit)
        if not runs:
            return 0
        engine.lock_customers({run.customer_id for run in runs})
        batch = engine.ActionBatch()  # the grants of points: one bulk grant at the end
        for campaign, group in _by_campaign(runs):
            if not engine.evaluate_isolated(campaign, batch, _release_group, campaign, group, now, batch):
                for run in group:  # its campaign failed and is now in error (engine.evaluate_isolated)
                    _cancel(run, "campaign error", now)
                    run.points, run.money, run.result = 0, 0, {}
        batch.flush(now)
        ActionRun.objects.bulk_update(runs, ["status", "detail", "result", "executed_at", "points", "money"])
    return len(runs)


def _cancel(run, reason, now):
    run.status, run.detail, run.executed_at = RUN.CANCELLED, reason, now


def _release_group(campaign, runs, now, batch):
    budget = Budget.open(campaign)
    if not budget.active:
        for run in runs:
            _cancel(run, f"campaign {campaign.status}", now)
        return True
    allowed = matching_customer_ids(campaign, {run.customer_id for run in runs})
    customers = engine.load_customers(campaign, {run.customer_id for run in runs})
    actions = {a.pk: a for a in campaign.actions.all()}
    factors = engine.multipliers(customers)
    effects = {e.pk: e for e in campaign.effects.filter(pk__in={run.effect_id for run in runs})}
    for run in sorted(runs, key=lambda r: (r.customer_id, r.due_at)):
        action, effect = actions.get(run.action_id), effects[run.effect_id]
        if action is None:
            _cancel(run, "action removed", now)
        elif run.customer_id not in allowed:
            _cancel(run, "conditions no longer hold", now)
        elif (
            action.cancel_if_event_type
            and Event.objects.filter(
                customer_id=run.customer_id, type=action.cancel_if_event_type, occurred_at__gt=effect.occurred_at
            ).exists()
        ):
            _cancel(run, f"{action.cancel_if_event_type} since the trigger", now)
        else:
            points, money = action_kinds.estimate_cost(action, effect, factors.get(run.customer_id, 1))
            if budget.spent_out or not budget.charge(points, money):
                run.status, run.detail, run.executed_at = RUN.BUDGET_EXHAUSTED, "budget exhausted", now
                continue
            if action.kind == action_kinds.A.GRANT_POINTS and points > 0:
                batch.grant(run, action, campaign, effect, customers[run.customer_id], points, money, budget)
            else:
                engine.perform(run, action, campaign, effect, customers[run.customer_id], points, money, budget, now)
    budget.close(now)
    return True


def release_due_triggers(now=None, limit=RELEASE_BATCH):
    """Decide deferred triggers that are due: fire (qualify) those whose reason still holds
    (no purchase since the cart; ticket still unresolved), cancel the others."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = _claim(PendingTrigger.objects.filter(status=PendingTrigger.Status.PENDING, due_at__lte=now), limit)
        if not rows:
            return 0
        engine.lock_customers({row.customer_id for row in rows})
        for campaign, group in _by_campaign(rows):
            fired = []
            for row in group:
                holds = campaign.status == Campaign.Status.ACTIVE and triggers.deferred_still_holds(
                    campaign, row.customer_id, row.occurred_at, row.due_at, row.context
                )
                row.status = PendingTrigger.Status.FIRED if holds else PendingTrigger.Status.CANCELLED
                row.resolved_at = now
                if holds:
                    fired.append(row)
            allowed = matching_customer_ids(campaign, {row.customer_id for row in fired}) if fired else set()
            candidates = [
                triggers.Candidate(row.customer_id, row.occurrence, row.due_at, row.value, row.context)
                for row in fired
                if row.customer_id in allowed
            ]
            engine.evaluate_isolated(campaign, None, engine.qualify, campaign, candidates, now)
        PendingTrigger.objects.bulk_update(rows, ["status", "resolved_at"])
    return len(rows)


def run_scheduled_triggers(now=None):
    """Inactivity, date and schedule triggers of every active campaign; one transaction each."""
    now = now or timezone.now()
    ids = (
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, trigger_kind__in=triggers.SCHEDULED_KINDS)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .values_list("id", flat=True)
    )
    created = 0
    for campaign_id in ids:
        created += run_scheduled_campaign(campaign_id, now)
    return created


def scheduled_candidates(campaign, now):
    """(candidates, period key or None) for a scheduled campaign at `now`."""
    kind = campaign.trigger_kind
    if kind == Campaign.Trigger.INACTIVITY:
        return triggers.inactivity_candidates(campaign, now, since=campaign.last_run_at), None
    if kind == Campaign.Trigger.DATE:
        return triggers.date_candidates(campaign, now), None
    period = triggers.schedule_period(campaign, now)
    if period is None or period == campaign.last_run_key:
        return [], None
    return triggers.schedule_candidates(campaign, now, period), period


def run_scheduled_campaign(campaign_id, now):
    with transaction.atomic():
        # No lock on the campaign here (lock order: customers first); two overlapping passes
        # are harmless since the effects' UNIQUE key keeps every occurrence once.
        campaign = (
            Campaign.objects.select_related("program")
            .prefetch_related("actions")
            .filter(pk=campaign_id, status=Campaign.Status.ACTIVE)
            .first()
        )
        if campaign is None:
            return 0
        effects = engine.evaluate_isolated(campaign, None, _run_scheduled, campaign, now)
        return len(effects or [])


def _run_scheduled(campaign, now):
    candidates, period = scheduled_candidates(campaign, now)
    effects = engine.qualify(campaign, candidates, now)
    Campaign.objects.filter(pk=campaign.pk).update(
        last_run_at=now, last_run_key=period or campaign.last_run_key, updated_at=now
    )
    return effects


def advance_statuses(now=None):
    """scheduled -> active at starts_at; scheduled/active/paused/error -> ended at ends_at (states.py)."""
    now = now or timezone.now()
    S = Campaign.Status
    started = states.transition_due(S.SCHEDULED, S.ACTIVE, Q(starts_at__lte=now), reason="starts_at", now=now)
    ended = sum(
        states.transition_due(status, S.ENDED, Q(ends_at__lte=now), reason="ends_at", now=now)
        for status in (S.SCHEDULED, S.ACTIVE, S.PAUSED, S.ERROR)
    )
    return started, ended


def pending_totals(campaign):
    """(pending actions, their earliest due time) for the admin."""
    pending = ActionRun.objects.filter(campaign=campaign, status=RUN.PENDING)
    first = pending.order_by("due_at").values_list("due_at", flat=True).first()
    return pending.count(), first
