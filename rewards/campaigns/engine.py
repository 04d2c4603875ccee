"""Evaluation: from a batch of events (or transitions, or a beat pass) to effects and actions.

`handle_events` / `handle_transitions` are registered with engagement.hooks and run INSIDE
engagement's processing transaction. A campaign that raises is rolled back alone (its own
savepoint, `evaluate_isolated`) and moved to `error`, and the batch goes on; only a transient database error (deadlock, lock timeout, lost connection)
rolls the whole batch back to be retried, with nothing of it granted.

The batch's events are read once; each campaign's candidates are selected from those rows in
Python where its rule allows (row_filters.py), the others' in one statement (triggers.py);
the campaigns then run together in one savepoint (`evaluate_together`, re-run one per
savepoint only after a failure). Per campaign, `qualify` then applies limits, inserts the effects with `INSERT ... ON CONFLICT (campaign, customer,
occurrence) DO NOTHING RETURNING` and runs the actions of the effects it actually inserted
(an event batch: `qualify_many`, one such insert for all its campaigns). A replayed batch, a duplicated Celery delivery
or a concurrent worker therefore finds the effect already there and grants nothing.

`plan` is the shared, read-only first half: the simulator runs exactly it.

Set-based actions: a pass (one event batch, one transition batch, one beat release, one
qualify call) collects its immediate grant_points and emit_webhook actions and its ActionRun
rows in an `ActionBatch` and writes them at the end: its grants join the processing batch's
one `rewards.ledger.bulk_grant` (rewards.grant_batch: with the earn rule's and referrals'; one
account-lock pass in id order, one insert of entries, one of lots, one UPDATE of the
balances, one bulk `reward.granted` webhook write), then one `record_webhook_events` per
webhook type and one insert of the runs, instead of a ledger transaction per grant. Each action keeps
its own idempotency key (`campaign-effect:<effect>:<action>`), so exactly-once is unchanged.
The other action kinds (surveys, messages, payouts, rewards, team notes) run one by one
through their services' contracts.
"""

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from engagement.bulk import bulk_insert, server_side_cursor
from engagement.models import Customer, Event, ScoreTransition
from engagement.webhooks.events import record_webhook_events
from rewards import grant_batch
from rewards.campaigns import actions as action_kinds
from rewards.campaigns import lifecycle, row_filters, triggers
from rewards.campaigns.limits import Budget, apply_customer_limits, read_limit_usage
from rewards.campaigns.models import ActionRun, Campaign, CampaignEffect, PendingTrigger
from rewards.ledger import Grant
from rewards.tiers import get_multipliers

log = logging.getLogger(__name__)
EFFECTS = CampaignEffect._meta.db_table
RUN = ActionRun.Status


def active_campaigns(program_id, now, kinds):
    """Active campaigns of the program with a trigger of `kinds`, in evaluation (lock) order."""
    return list(
        Campaign.objects.filter(program_id=program_id, status=Campaign.Status.ACTIVE, trigger_kind__in=kinds)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .select_related("program")
        .prefetch_related("actions")
        .order_by("-priority", "id")
    )


# --- entry points ---------------------------------------------------------------------------


def handle_events(program_id, event_ids):
    """engagement.hooks event handler: evaluate event-triggered campaigns over the batch."""
    now = timezone.now()
    campaigns = active_campaigns(program_id, now, triggers.EVENT_KINDS)
    if not campaigns:
        return
    # The batch's events read once for every campaign (row_filters); each campaign looks
    # only at the rows of its own types (a purchase rule at the ~10 % of purchases).
    by_type = defaultdict(list)
    for row in row_filters.read_batch_rows(program_id, event_ids):
        by_type[row["type"]].append(row)
    selections, rows = [], {}
    for campaign in campaigns:
        mine = [row for type_ in triggers.event_types(campaign) for row in by_type.get(type_, ())]
        if mine:
            selections.append((campaign, batch_events(sorted(row["id"] for row in mine))))
            rows[campaign.pk] = mine
    batch = ActionBatch()
    selected = select_candidates(selections, rows)
    if selected is None:  # the combined selection failed: each campaign alone, isolated
        for campaign, events in selections:
            evaluate_isolated(campaign, batch, evaluate_event_campaign, campaign, events, now, batch)
        batch.flush(now)
        return
    batch.prepare(campaigns, selected)
    # No candidate: nothing to write, nothing to run.
    work = [(campaign, selected[campaign.pk]) for campaign, _ in selections if selected[campaign.pk]]
    evaluate_together(work, now, batch)
    batch.flush(now)


def evaluate_together(work, now, batch):
    """Qualify (or defer) each campaign's candidates, [(campaign, candidates)], all in ONE
    savepoint (a savepoint per campaign cost two statements each). If any of them raises
    anything but a transient database error, the savepoint is rolled back with everything
    queued in it, and each campaign is evaluated again in its own (evaluate_isolated): the
    faulty one alone moves to error. Nothing read before is changed by a rollback: the
    customers' rows, locks and recorded effects come from `batch.prepare`, budgets are
    re-read under their row lock by Budget.open."""
    mark = batch.mark()
    try:
        with transaction.atomic():
            qualify_many(work, now, batch)
        return
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # noqa: BLE001 - retried campaign by campaign, see the docstring
        log.warning("evaluating the batch's campaigns together failed; one campaign at a time", exc_info=True)
    batch.rewind(mark)
    for campaign, candidates in work:
        evaluate_isolated(campaign, batch, _use_candidates, campaign, candidates, now, batch)


def select_candidates(selections, rows=None):
    """{campaign.pk: candidates} of every campaign, from the batch's `rows` read once where
    its rule allows and in one statement for the others, or None if that failed
    (anything but a transient database error): then the caller selects per campaign, each
    in its savepoint, so that the faulty campaign alone moves to error."""
    try:
        with transaction.atomic():
            return triggers.select_many_event_candidates(selections, rows)
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # noqa: BLE001 - retried campaign by campaign, see the docstring
        log.warning("combined candidate selection failed; selecting campaign by campaign", exc_info=True)
        return None


def qualify_many(work, now, batch):
    """`_use_candidates` for each of [(campaign, candidates)], in order, with the effects of
    all the campaigns inserted by ONE statement: each campaign is staged (customers locked,
    budget row locked and admitted, limits applied) in campaign order, then the effects are
    inserted, then each campaign runs its actions and closes its budget in the same order.
    Lock order stays customers -> campaigns -> accounts; ids, grants and runs come out as
    with one `qualify` per campaign (the effects' ids in campaign order, then row order)."""
    staged = []
    for campaign, candidates in work:
        if campaign.trigger_kind in triggers.DEFERRED_KINDS:
            defer(campaign, candidates)
        elif candidates:
            stage = _stage(campaign, candidates, batch)
            if stage is not None:
                staged.append((campaign, *stage))
    inserted = insert_many_effects([(campaign, rows) for campaign, _budget, rows in staged])
    for campaign, budget, _rows in staged:
        _act(campaign, inserted[campaign.pk], budget, now, batch)


def _use_candidates(campaign, candidates, now, batch):
    if campaign.trigger_kind in triggers.DEFERRED_KINDS:
        defer(campaign, candidates)
    else:
        qualify(campaign, candidates, now, batch)


def batch_events(event_ids):
    """The batch's events as a queryset. `id = ANY(array)`: one parameter instead of an IN
    list of 1,000 that every campaign's query would re-send and re-parse."""
    table = Event._meta.db_table
    return Event.objects.filter(RawSQL(f'"{table}"."id" = ANY(%s)', [list(event_ids)], output_field=BooleanField()))


def evaluate_event_campaign(campaign, events, now, batch=None):
    _use_candidates(campaign, triggers.select_event_candidates(campaign, events), now, batch)


def handle_transitions(program_id, transition_ids):
    """engagement.hooks transition handler: score, segment and churn-risk triggers."""
    now = timezone.now()
    campaigns = active_campaigns(program_id, now, triggers.TRANSITION_KINDS)
    if not campaigns:
        return
    transitions = list(ScoreTransition.objects.filter(id__in=list(transition_ids), program_id=program_id))
    batch = ActionBatch()
    batch.lock_customers({t.customer_id for t in transitions})
    for campaign in campaigns:
        evaluate_isolated(campaign, batch, _qualify_transitions, campaign, transitions, now, batch)
    batch.flush(now)


def _qualify_transitions(campaign, transitions, now, batch):
    qualify(campaign, triggers.transition_candidates(campaign, transitions), now, batch)


def evaluate_isolated(campaign, batch, fn, *args):
    """Run one campaign's part of a pass, `fn(*args)`, in a savepoint. If it raises anything
    but a transient database error (lock timeout, deadlock, lost connection: the whole batch
    is retried), its writes and its queued actions are dropped and the campaign moves to
    `error` (lifecycle.mark_failed: the error recorded on it, webhook campaign.failed), so
    the rest of the batch (base processing, every other campaign) still commits. `batch`
    (or None when `fn` flushes its own) is the pass's ActionBatch. Returns what `fn` returned,
    None after a failure."""
    mark = batch.mark() if batch is not None else None
    try:
        with transaction.atomic():
            return fn(*args)
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of one rule must not stall the others
        log.exception("campaign %s failed during evaluation; moved to error", campaign.pk)
        if batch is not None:
            batch.rewind(mark)
        lifecycle.mark_failed(campaign, exc)
        return None


def lock_customers(customer_ids):
    """Lock customer rows by id (lock order: customers first), making limits race-safe.

    FOR NO KEY UPDATE: it serialises the passes that evaluate a customer, but not the
    foreign-key checks (FOR KEY SHARE) of an ingest inserting that customer's events, which
    otherwise waited on this lock at their COMMIT while this pass waited on their rows: a
    deadlock, and a 500 to the partner (bench/pipeline.py). Returns the ids locked (the
    customers that exist)."""
    if not customer_ids:
        return set()
    with connection.cursor() as cursor:
        # One array parameter, not an IN list of hundreds built and quoted by Django.
        cursor.execute(
            f"SELECT id FROM {Customer._meta.db_table} WHERE id IN (SELECT unnest(%s::bigint[]))"
            " ORDER BY id FOR NO KEY UPDATE",
            [sorted(customer_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def defer(campaign, candidates):
    """Store deferred triggers (cart abandoned, ticket opened) to be decided when due."""
    PendingTrigger.objects.bulk_create(
        [
            PendingTrigger(
                program_id=campaign.program_id,
                campaign=campaign,
                customer_id=c.customer_id,
                occurrence=c.occurrence,
                occurred_at=c.occurred_at,
                due_at=triggers.deferred_due_at(campaign, c.occurred_at),
                value=c.value,
                context=c.context,
            )
            for c in candidates
        ],
        ignore_conflicts=True,  # the same cart/ticket seen again: already waiting
    )


# --- planning (read-only) -------------------------------------------------------------------


@dataclass
class Plan:
    """What would happen: (candidate, status) in order; candidates already recorded dropped."""

    campaign: Campaign
    rows: list = field(default_factory=list)


def recorded_occurrences(campaign_ids, candidates):
    """{campaign id: {(customer id, occurrence)}} of the effects already recorded among
    `candidates` (one query for several campaigns)."""
    found = defaultdict(set)
    if candidates:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT campaign_id, customer_id, occurrence FROM {EFFECTS}"
                " WHERE campaign_id = ANY(%s) AND customer_id = ANY(%s) AND occurrence = ANY(%s)",
                [
                    sorted(campaign_ids),
                    sorted({c.customer_id for c in candidates}),
                    sorted({c.occurrence for c in candidates}),
                ],
            )
            for campaign_id, customer_id, occurrence in cursor.fetchall():
                found[campaign_id].add((customer_id, occurrence))
    return found


def plan(campaign, candidates, existing=None, used=None):
    """Drop occurrences already recorded (or repeated), then apply the per-customer limits.
    `existing`: the recorded (customer id, occurrence) pairs, and `used`: the times of the
    campaign's qualified effects per customer (limits.read_limit_usage), when the caller read
    them already (ActionBatch.prepare), else they are read here."""
    if not candidates:
        return Plan(campaign)
    if existing is None:
        existing = recorded_occurrences([campaign.pk], candidates)[campaign.pk]
    fresh, seen = [], set(existing)
    for candidate in candidates:
        key = (candidate.customer_id, candidate.occurrence)
        if key not in seen:
            seen.add(key)
            fresh.append(candidate)
    return Plan(campaign, apply_customer_limits(campaign, fresh, used))


def multipliers(customer_ids):
    return defaultdict(lambda: Decimal("1"), get_multipliers(sorted(customer_ids)))


# --- doing ----------------------------------------------------------------------------------


def qualify(campaign, candidates, now, batch=None):
    """Record effects for `candidates` and run their actions; returns the new effects.

    Joins the caller's transaction. Exactly-once by the effect's UNIQUE key. With a budget,
    the campaign row is locked (Budget.open) until the caller commits. With a `batch`, the
    grants and runs are written when the caller flushes it (before its transaction ends);
    without one, before this returns.
    """
    if not candidates:
        return []
    if batch is None:
        batch = ActionBatch()
        effects = qualify(campaign, candidates, now, batch)
        batch.flush(now)
        return effects
    stage = _stage(campaign, candidates, batch)
    if stage is None:
        return []
    budget, rows = stage
    return _act(campaign, insert_effects(campaign, rows), budget, now, batch)


def _stage(campaign, candidates, batch):
    """Qualify's first half: (budget, [(candidate, status)]) to record, or None when the
    campaign is not active (any more). Locks the candidates' customers when a limit or a
    budget counts them, then the campaign row when it has a budget (Budget.open)."""
    if campaign.per_customer_limit or campaign.has_budget:
        batch.lock_customers({c.customer_id for c in candidates})
    budget = Budget.open(campaign)
    if not budget.active:
        return None
    planned = plan(campaign, candidates, batch.recorded(campaign), batch.limit_usage(campaign)).rows
    rows = []
    for candidate, status in planned:
        if status == CampaignEffect.Status.QUALIFIED and not budget.admit():
            rows.append((candidate, CampaignEffect.Status.BUDGET_EXHAUSTED))
            break  # the campaign pauses; later candidates stay unrecorded
        rows.append((candidate, status))
    return budget, rows


def _act(campaign, effects, budget, now, batch):
    """Qualify's second half: the actions of the effects just inserted, then the budget."""
    qualified = [e for e in effects if e.status == CampaignEffect.Status.QUALIFIED]
    if qualified:
        run_actions(campaign, qualified, budget, now, batch)
    budget.close(now)
    return effects


def insert_effects(campaign, rows):
    """insert_many_effects for one campaign: its new CampaignEffects, in the order of `rows`."""
    return insert_many_effects([(campaign, rows)])[campaign.pk]


def insert_many_effects(work):
    """Record [(campaign, [(candidate, status)])] with ONE `INSERT ... ON CONFLICT DO NOTHING
    RETURNING`: {campaign id: [the CampaignEffects this call inserted, in the order of its
    rows]} (a row already recorded, by a replay or a concurrent worker, comes back in none).
    Rows go in campaign order, then row order, so the ids are those one insert per campaign
    gave. Each column is one array bound server-side (a VALUES list quoted client-side cost
    ~0.1 s per 1,000 candidates); the effects are built positionally (Model.__init__'s fast
    path), with their campaign cached."""
    created = {campaign.pk: [] for campaign, _rows in work}
    rows = [(campaign, candidate, status) for campaign, pairs in work for candidate, status in pairs]
    if not rows:
        return created
    now = timezone.now()
    with connection.wrap_database_errors, server_side_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EFFECTS} (program_id, campaign_id, customer_id, occurrence, status, occurred_at,"
            " value, context, created_at)"
            " SELECT u.program_id, u.campaign_id, u.customer_id, u.occurrence, u.status, u.occurred_at, u.value,"
            " u.context::jsonb, %s"
            # Binary arrays (no per-element quoting), the decimals in text (engagement.bulk).
            " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::varchar[], %b::varchar[],"
            " %b::timestamptz[], %t::numeric[], %b::text[])"
            " AS u(program_id, campaign_id, customer_id, occurrence, status, occurred_at, value, context)"
            " ON CONFLICT (campaign_id, customer_id, occurrence) DO NOTHING"
            " RETURNING id, campaign_id, customer_id, occurrence",
            [
                now,
                [campaign.program_id for campaign, _, _ in rows],
                [campaign.pk for campaign, _, _ in rows],
                [c.customer_id for _, c, _ in rows],
                [c.occurrence for _, c, _ in rows],
                [str(status) for _, _, status in rows],
                [c.occurred_at for _, c, _ in rows],
                [c.value for _, c, _ in rows],
                [json.dumps(c.context, default=str) for _, c, _ in rows],
            ],
        )
        ids = {(campaign_id, customer_id, occurrence): pk for pk, campaign_id, customer_id, occurrence in cursor}
    alias = connection.alias
    for campaign, candidate, status in rows:
        effect_id = ids.get((campaign.pk, candidate.customer_id, candidate.occurrence))
        if effect_id is None:
            continue
        effect = CampaignEffect(
            effect_id,
            campaign.program_id,
            campaign.pk,
            candidate.customer_id,
            candidate.occurrence,
            status,
            candidate.occurred_at,
            candidate.value,
            candidate.context,
            now,
        )
        effect._state.adding, effect._state.db = False, alias
        effect._state.fields_cache["campaign"] = campaign
        created[campaign.pk].append(effect)
    return created


def load_customers(campaign, customer_ids):
    # One array parameter, not in_bulk's IN list of hundreds; as a semi-join on it, so the
    # planner probes the primary key instead of filtering every customer through the array.
    ids = RawSQL("SELECT unnest(%s::bigint[])", [sorted(customer_ids)])
    rows = Customer.objects.filter(id__in=ids)
    customers = {customer.pk: customer for customer in rows}
    for customer in customers.values():
        customer.program = campaign.program  # saves one query per service call
    return customers


def needs_customer_rows(actions):
    """Whether running `actions` reads customers' rows: an immediate grant of points needs only
    the customer's id (rewards.ledger locks the account by it); every other kind passes the
    customer to its service (messages, payouts, webhook payloads...)."""
    return any(a.kind != action_kinds.A.GRANT_POINTS and not a.delay_minutes for a in actions)


def run_actions(campaign, effects, budget, now, batch=None):
    """Immediate actions now (cost charged first, as one amount per effect); delayed ones as
    pending ActionRuns released by beat. Grants of points, emitted webhooks and the runs go
    to `batch` (bulk writes when it is flushed; at once without a batch)."""
    own = batch is None
    batch = batch or ActionBatch()
    actions = list(campaign.actions.all())
    customers = batch.customers(campaign, {e.customer_id for e in effects}, rows=needs_customer_rows(actions))
    factors = batch.multipliers(customers) if any(a.kind == "grant_points" for a in actions) else {}
    runs, unaffordable = [], []
    immediate = [a for a in actions if not a.delay_minutes]
    for effect in sorted(effects, key=lambda e: (e.customer_id, e.occurred_at)):
        customer = customers[effect.customer_id]
        costs = {a.pk: action_kinds.estimate_cost(a, effect, factors.get(effect.customer_id, 1)) for a in immediate}
        total_points = sum(p for p, _ in costs.values())
        total_money = sum((m for _, m in costs.values()), Decimal("0"))
        # Once exhausted, nothing more in this pass (the campaign is about to pause).
        affordable = not budget.spent_out and budget.charge(total_points, total_money)
        for action in actions:
            run = _new_run(effect, action, campaign)
            if not affordable:
                run.status, run.detail, run.executed_at = RUN.BUDGET_EXHAUSTED, "budget exhausted", now
            elif not action.delay_minutes:
                points, money = costs[action.pk]
                if action.kind == action_kinds.A.GRANT_POINTS and points > 0:
                    batch.grant(run, action, campaign, effect, customer, points, money, budget)
                elif action.kind == action_kinds.A.EMIT_WEBHOOK:
                    batch.webhook(run, action, campaign, effect, customer, points, money, budget)
                else:
                    perform(run, action, campaign, effect, customer, points, money, budget, now)
            runs.append(run)
        if not affordable:
            unaffordable.append(effect.pk)
            budget.grants -= 1  # admitted, but not granted after all
    if unaffordable:
        CampaignEffect.objects.filter(pk__in=unaffordable).update(status=CampaignEffect.Status.BUDGET_EXHAUSTED)
    batch.runs += runs
    if own:
        batch.flush(now)


def _new_run(effect, action, campaign):
    """A pending ActionRun of `action` for `effect`, not saved. Positional arguments in field
    order: Model.__init__'s fast path (keyword arguments and the foreign-key descriptors cost
    ~3 ms per 650 runs); the related rows are cached as assigning them would have."""
    run = ActionRun(
        None,
        effect.pk,
        action.pk,
        campaign.pk,
        effect.customer_id,
        action.kind,
        RUN.PENDING,
        effect.occurred_at + timedelta(minutes=action.delay_minutes),
        None,
        0,
        Decimal("0"),
        "",
        {},
    )
    cache = run._state.fields_cache
    cache["effect"], cache["action"], cache["campaign"] = effect, action, campaign
    return run


@dataclass
class _Pending:
    run: ActionRun
    action: object
    campaign: Campaign
    effect: CampaignEffect
    customer: Customer
    points: int
    money: Decimal
    budget: Budget


class ActionBatch:
    """The immediate grant_points and emit_webhook actions and the ActionRun rows of one
    evaluation pass, written set-based by `flush` inside the caller's transaction (see the
    module docstring), plus per-pass caches of customers, tier multipliers and row locks.

    Costs were charged to the budgets when the actions were queued. Should a bulk write
    raise anything but a database OperationalError, each of its actions is retried alone in
    its own savepoint (grants: rewards.grant_batch; webhooks: `perform`): a failing one is
    recorded on its run and its cost refunded, and the budgets concerned are written again.
    """

    def __init__(self):
        self.grants = []
        self.webhooks = []
        self.runs = []
        self._customers = {}
        self._stubs = {}
        self._multipliers = {}
        self._locked = set()
        self._existing = set()
        self._recorded = None
        self._usage = None

    def prepare(self, campaigns, selected):
        """Read once for all the campaigns of a pass what each would read alone: lock the
        candidates' customers (id order; already locked under engagement's processing),
        load their rows and tier multipliers, the effects already recorded among them and,
        for the campaigns with a per-customer limit, their customers' qualified effects.
        `selected`: {campaign id: candidates}; `campaigns`: the pass's campaigns."""
        every = [c for candidates in selected.values() for c in candidates]
        ids = {c.customer_id for c in every}
        if not ids:
            return
        self.lock_customers(ids)
        # Rows only for the campaigns whose actions read them (run_actions); ids for the rest.
        readers = [k for k in campaigns if needs_customer_rows(k.actions.all())]
        self.customers(campaigns[0], {c.customer_id for k in readers for c in selected.get(k.pk, ())})
        self.multipliers(ids)
        self._recorded = recorded_occurrences([pk for pk, found in selected.items() if found], every)
        limited = [(c, selected[c.pk]) for c in campaigns if c.per_customer_limit and selected.get(c.pk)]
        self._usage = read_limit_usage(limited)

    def recorded(self, campaign):
        """The effects already recorded for `campaign` (prepare), or None: plan reads them."""
        if self._recorded is None:
            return None
        return self._recorded.get(campaign.pk, set())

    def limit_usage(self, campaign):
        """{customer id: [times]} of `campaign`'s qualified effects (prepare), or None: the
        limits read them."""
        if self._usage is None or not campaign.per_customer_limit:
            return None
        return self._usage.get(campaign.pk, {})

    def mark(self):
        """Where the pass stands: rewind(mark) forgets what was queued after it."""
        return len(self.grants), len(self.webhooks), len(self.runs), set(self._locked)

    def rewind(self, mark):
        # A rolled-back savepoint also released the row locks taken in it.
        grants, webhooks, runs, locked = mark
        del self.grants[grants:], self.webhooks[webhooks:], self.runs[runs:]
        self._locked = locked
        self._existing &= locked

    def lock_customers(self, customer_ids):
        """lock_customers for the ids this pass has not locked yet (locks last until commit)."""
        missing = set(customer_ids) - self._locked
        self._existing |= lock_customers(missing)
        self._locked |= missing

    def customers(self, campaign, customer_ids, *, rows=True):
        """{id: Customer} like load_customers, each row read once per pass (campaigns of a
        pass share one program; nothing in a pass changes a customer's row or tier). With
        `rows=False` (grants of points only) a customer this pass locked, so known to exist,
        and not read yet is an instance holding its id and program only (its other fields
        deferred: read from the database if ever used), not a row read and converted."""
        ids = set(customer_ids)
        found = {pk: self._customers[pk] for pk in ids if pk in self._customers}
        if not rows:
            for pk in (ids - found.keys()) & self._existing:
                found[pk] = self._stubs.get(pk) or self._stub(campaign, pk)
        missing = ids - found.keys()
        if missing:
            loaded = load_customers(campaign, missing)
            self._customers.update(loaded)
            found.update(loaded)
        return found

    def _stub(self, campaign, pk):
        stub = Customer.from_db(connection.alias, ["id", "program_id"], (pk, campaign.program_id))
        stub.program = campaign.program
        self._stubs[pk] = stub
        return stub

    def multipliers(self, customer_ids):
        missing = set(customer_ids) - self._multipliers.keys()
        if missing:
            found = multipliers(missing)
            self._multipliers.update({pk: found[pk] for pk in missing})
        return defaultdict(lambda: Decimal("1"), {pk: self._multipliers[pk] for pk in customer_ids})

    def grant(self, run, action, campaign, effect, customer, points, money, budget):
        self.grants.append(_Pending(run, action, campaign, effect, customer, points, money, budget))

    def webhook(self, run, action, campaign, effect, customer, points, money, budget):
        self.webhooks.append(_Pending(run, action, campaign, effect, customer, points, money, budget))

    def flush(self, now):
        """Queue the grants for the processing batch's one bulk ledger write (rewards.grant_batch;
        written at once outside a batch), then, once they are written, record the webhooks and
        insert the runs (in that order, as when each was written here)."""
        grants, webhooks, runs = self.grants, self.webhooks, self.runs
        self.grants, self.webhooks, self.runs = [], [], []

        def finish():
            if webhooks:
                self._emit_all(webhooks, now)
            if runs:
                bulk_insert(runs)

        if not grants:
            finish()
            return
        by_program = defaultdict(list)
        for p in grants:
            by_program[p.campaign.program_id].append(p)
        waiting = set(by_program)

        def written(program_id, pending, results):
            self._record_grants(pending, results, now)
            waiting.discard(program_id)
            if not waiting:
                finish()

        for program_id, pending in by_program.items():
            grant_batch.add(
                pending[0].campaign.program,
                [self._grant_of(p) for p in pending],
                notify=True,
                then=lambda results, program_id=program_id, pending=pending: written(program_id, pending, results),
            )

    def _one_by_one(self, pending, now, exc):
        log.warning("bulk write of %s campaign actions failed (%s); running them one by one", len(pending), exc)
        for p in pending:
            perform(p.run, p.action, p.campaign, p.effect, p.customer, p.points, p.money, p.budget, now)
        for budget in {id(p.budget): p.budget for p in pending if p.run.status != RUN.DONE}.values():
            budget.close(now)  # refunds happened after the pass closed it

    @staticmethod
    def _done(p, now, detail, result):
        run = p.run
        run.status, run.detail, run.result, run.executed_at = RUN.DONE, detail, result, now
        run.points, run.money = p.points, p.money

    def _emit_all(self, webhooks, now):
        groups = defaultdict(list)
        for p in webhooks:
            groups[(p.campaign.program_id, p.action.config["type"])].append(p)
        for (_program_id, type_), pending in groups.items():
            payloads = [action_kinds.webhook_payload(p.campaign, p.effect, p.customer) for p in pending]
            keys = [action_kinds.idempotency_key(p.effect, p.action) for p in pending]
            try:
                with transaction.atomic():
                    events = record_webhook_events(pending[0].campaign.program, type_, payloads, idempotency_keys=keys)
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - one by one, each failure recorded
                self._one_by_one(pending, now, exc)
                continue
            for p, event in zip(pending, events, strict=True):
                self._done(p, now, type_, {"webhook_event": event.pk})

    @staticmethod
    def _grant_of(p):
        return Grant(
            customer=p.customer,
            points=p.points,
            reason=action_kinds.campaign_reason(p.campaign, p.action),
            idempotency_key=action_kinds.idempotency_key(p.effect, p.action),
            source=("campaign", p.campaign.pk),
        )

    def _record_grants(self, pending, results, now):
        """Each grant's run: done with its entry, or failed (the grant failed alone after a
        failed bulk write) with its cost refunded and the budgets concerned written again."""
        refunded = {}
        for p, result in zip(pending, results, strict=True):
            if not isinstance(result, Exception):
                self._done(p, now, f"{p.points} points", {"ledger_entry": result.pk})
                continue
            log.warning("campaign %s grant failed for customer %s: %s", p.campaign.pk, p.customer.pk, result)
            run = p.run
            run.status, run.detail, run.result, run.executed_at = (
                RUN.FAILED,
                f"{type(result).__name__}: {result}"[:200],
                {},
                now,
            )
            p.budget.refund(p.points, p.money)
            refunded[id(p.budget)] = p.budget
        for budget in refunded.values():
            budget.close(now)  # refunds happened after the pass closed it


def perform(run, action, campaign, effect, customer, points, money, budget, now):
    """Execute in a savepoint; a failing action is recorded (and its cost refunded), never
    allowed to roll back the batch. Lock timeouts and deadlocks still propagate."""
    try:
        with transaction.atomic():
            outcome = action_kinds.execute(action, campaign, effect, customer, points, money)
    except OperationalError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded on the run, see the docstring
        log.warning("campaign %s action %s failed for customer %s: %s", campaign.pk, action.pk, customer.pk, exc)
        outcome = action_kinds.Outcome(RUN.FAILED, f"{type(exc).__name__}: {exc}"[:200])
    run.status, run.detail, run.result, run.executed_at = (
        outcome.status,
        outcome.detail[:200],
        outcome.result or {},
        now,
    )
    if outcome.status == RUN.DONE:
        run.points, run.money = points, money
    else:
        budget.refund(points, money)


def backfill(campaign, start, end, now=None):
    """Run one campaign over the stored events of [start, end) as if they had just arrived
    (the demo; an admin catching up a new campaign). Same code path and the same exactly-once
    keys as live processing, so running it twice grants nothing more. Event kinds only."""
    now = now or timezone.now()
    events = Event.objects.filter(program_id=campaign.program_id, occurred_at__gte=start, occurred_at__lt=end)
    with transaction.atomic():
        evaluate_event_campaign(campaign, events, now)
