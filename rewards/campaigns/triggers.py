"""Triggers: which customers a campaign's trigger selects, and for which occurrence.

Each kind has a config (validated by `validate_trigger`) and a selector returning
`Candidate`s. Selection is set-based: one query per campaign over the batch (events or
transitions) or, for scheduled kinds, over the program's customers, with the audience and
conditions applied in SQL. The occurrence is deterministic (event id, transition id, date,
schedule period), so the effect's UNIQUE key makes every trigger exactly-once.

Score bands (survey_answered): nps 0-6 detractor, 7-8 passive, 9-10 promoter; csat (1-5)
1-2 / 3 / 4-5; ces (1-7, higher = easier) 1-3 / 4-5 / 6-7.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, ExtractDay, ExtractMonth, Mod, NullIf
from django.utils.translation import gettext_lazy as _

from engagement import purchase_models
from engagement.event_schema import is_known_type
from engagement.models import Customer, CustomerEventRollup, Event
from rewards.campaigns import row_filters
from rewards.campaigns.conditions import (
    MAX_COUNT,
    MAX_MONEY,
    ConditionError,
    Field,
    campaign_customer_q,
    event_condition_q,
    number,
    validate_conditions,
)
from rewards.campaigns.models import Campaign

K = Campaign.Trigger
EVENT_KINDS = {
    K.EVENT,
    K.NTH_EVENT,
    K.CART_ABANDONED,
    K.SURVEY_ANSWERED,
    K.TICKET_UNRESOLVED,
    K.REFERRAL_CONVERTED,
    K.TIER_CHANGED,
}
TRANSITION_KINDS = {K.SCORE_THRESHOLD, K.SEGMENT_ENTERED, K.CHURN_RISK}
SCHEDULED_KINDS = {K.INACTIVITY, K.DATE, K.SCHEDULE}
# Decided later, by a PendingTrigger row released by beat.
DEFERRED_KINDS = {K.CART_ABANDONED, K.TICKET_UNRESOLVED}
BANDS = {
    "nps": {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)},
    "csat": {"detractor": (1, 2), "passive": (3, 3), "promoter": (4, 5)},
    "ces": {"detractor": (1, 3), "passive": (4, 5), "promoter": (6, 7)},
}
DEFAULT_CART_MINUTES = 15
DEFAULT_TICKET_HOURS = 48
SAMPLE_MULTIPLIER = 7919  # a prime: spreads consecutive customer ids across sample buckets


@dataclass
class Candidate:
    customer_id: int
    occurrence: str
    occurred_at: datetime
    value: Decimal | None = None
    context: dict = field(default_factory=dict)


# Upper bounds of the whole-number settings (a timedelta or a count must stay computable).
MAX_SETTING = {"n": MAX_COUNT, "minutes": 60 * 24 * 365, "hours": 24 * 365, "days": 3650}
SETTING_MESSAGES = {
    "n": _("%(name)s must be a whole number from 1 to %(high)s."),
    "minutes": _("%(name)s must be a whole number of minutes from 1 to %(high)s."),
    "hours": _("%(name)s must be a whole number of hours from 1 to %(high)s."),
    "days": _("%(name)s must be a whole number of days from 1 to %(high)s."),
}


def _positive_int(config, key, attr, default=None):
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SETTING[key]:
        raise ConditionError(SETTING_MESSAGES[key], f"{attr}.{key}", high=MAX_SETTING[key])
    return value


def validate_trigger(kind, config, attr="trigger"):
    """Raise ConditionError naming the bad field unless `config` suits trigger `kind`."""
    if kind not in K.values:
        raise ConditionError(_("%(name)s must be one of %(kinds)s."), f"{attr}.kind", kinds=", ".join(K.values))
    if not isinstance(config, dict):
        raise ConditionError(_("%(name)s must be an object."), f"{attr}.config")
    attr = f"{attr}.config"
    if kind in (K.EVENT, K.NTH_EVENT):
        event_type = config.get("event_type")
        if not isinstance(event_type, str) or not (is_known_type(event_type) or event_type == "tier_changed"):
            raise ConditionError(_("%(name)s must be an event type of the catalogue."), f"{attr}.event_type")
    if kind == K.EVENT:
        for key in ("min_value", "max_value"):
            if config.get(key) is not None:
                number(config[key], f"{attr}.{key}", low=-MAX_MONEY, high=MAX_MONEY)
        validate_conditions(config.get("conditions", []), f"{attr}.conditions", event=True)
    elif kind == K.NTH_EVENT:
        _positive_int(config, "n", attr)
    elif kind == K.CART_ABANDONED:
        _positive_int(config, "minutes", attr, DEFAULT_CART_MINUTES)
    elif kind == K.TICKET_UNRESOLVED:
        _positive_int(config, "hours", attr, DEFAULT_TICKET_HOURS)
    elif kind == K.INACTIVITY:
        _positive_int(config, "days", attr)
    elif kind == K.SURVEY_ANSWERED:
        if config.get("kind", "any") not in ("any", *BANDS, "custom"):
            raise ConditionError(_("%(name)s must be any, NPS, CSAT, CES or custom."), f"{attr}.kind")
        if config.get("band", "any") not in ("any", "detractor", "passive", "promoter"):
            raise ConditionError(_("%(name)s must be any, detractor, passive or promoter."), f"{attr}.band")
        if config.get("band", "any") != "any" and config.get("kind", "any") not in BANDS:
            raise ConditionError(
                _("%(name)s needs %(kind)s NPS, CSAT or CES."), f"{attr}.band", kind=Field(f"{attr}.kind")
            )
    elif kind == K.SCORE_THRESHOLD:
        threshold = config.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 < threshold <= 100:
            raise ConditionError(_("%(name)s must be a whole number from 1 to 100."), f"{attr}.threshold")
        if threshold % 10:
            raise ConditionError(_("%(name)s must be a multiple of 10 (score bands)."), f"{attr}.threshold")
        if config.get("direction", "up") not in ("up", "down"):
            raise ConditionError(_("%(name)s must be up or down."), f"{attr}.direction")
    elif kind == K.SEGMENT_ENTERED:
        segments = config.get("segments")
        if not isinstance(segments, list) or not segments or not all(isinstance(s, str) for s in segments):
            raise ConditionError(_("%(name)s: choose at least one RFM segment."), f"{attr}.segments")
    elif kind == K.CHURN_RISK:
        above = config.get("above")
        if isinstance(above, bool) or not isinstance(above, int | float) or not 0 < above < 1:  # NaN fails too
            raise ConditionError(_("%(name)s must be more than 0 and less than 1 (100 %%)."), f"{attr}.above")
    elif kind == K.DATE:
        if config.get("which") not in ("birthday", "signup_anniversary"):
            raise ConditionError(_("%(name)s must be the birthday or the signup anniversary."), f"{attr}.which")
    elif kind == K.SCHEDULE:
        if config.get("frequency") not in ("daily", "weekly", "monthly"):
            raise ConditionError(_("%(name)s must be daily, weekly or monthly."), f"{attr}.frequency")
        percent = config.get("sample_percent", 100)
        if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
            raise ConditionError(_("%(name)s must be a whole number from 1 to 100."), f"{attr}.sample_percent")


def event_types(campaign):
    """Event types whose arrival this campaign's trigger looks at."""
    kind, config = campaign.trigger_kind, campaign.trigger_config
    return {
        K.EVENT: lambda: {config.get("event_type")},
        K.NTH_EVENT: lambda: {config.get("event_type")},
        K.CART_ABANDONED: lambda: {"cart_abandoned"},
        K.TICKET_UNRESOLVED: lambda: {"ticket_opened"},
        K.SURVEY_ANSWERED: lambda: {"survey_answered"},
        K.REFERRAL_CONVERTED: lambda: {"referral_converted"},
        K.TIER_CHANGED: lambda: {"tier_changed"},
    }.get(kind, set)()


def _event_filter(campaign):
    """Trigger-specific filters on Event for the event kinds."""
    kind, config = campaign.trigger_kind, campaign.trigger_config
    q = Q(type__in=event_types(campaign))
    if kind == K.EVENT:
        if config.get("min_value") is not None:
            q &= Q(value__gte=Decimal(str(config["min_value"])))
        if config.get("max_value") is not None:
            q &= Q(value__lte=Decimal(str(config["max_value"])))
        for condition in config.get("conditions", []):
            q &= event_condition_q(condition)
    elif kind == K.SURVEY_ANSWERED:
        survey_kind, band = config.get("kind", "any"), config.get("band", "any")
        if survey_kind != "any":
            q &= Q(properties__kind=survey_kind)
        if band != "any":
            low, high = BANDS[survey_kind][band]
            q &= Q(properties__score__gte=low, properties__score__lte=high)
        if config.get("survey") not in (None, ""):
            q &= Q(properties__survey__in=[config["survey"], str(config["survey"])])
    elif kind == K.TIER_CHANGED:
        for key in ("from", "to"):
            if config.get(key):
                q &= Q(**{f"properties__{key}": config[key]})
    elif kind == K.NTH_EVENT:
        # Only customers who have at least n events of the type can have an nth one.
        q &= Q(
            customer__event_counts__type=config["event_type"],
            customer__event_counts__count__gte=config["n"],
        )
    return q


def _event_context(row):
    return {"event": row["event_id"], "event_type": row["type"], "event_pk": row["id"]}


ROW_FIELDS = ("id", "event_id", "type", "customer_id", "occurred_at", "value", "properties")


def _row_order(row):
    return row["customer_id"], row["occurred_at"], row["id"]


def event_candidate_rows(campaign, events):
    """The rows of `events` this campaign's trigger, audience and conditions select (unordered)."""
    return (
        events.filter(program_id=campaign.program_id)
        .filter(_event_filter(campaign))
        .filter(campaign_customer_q(campaign, "customer__"))
        .values(*ROW_FIELDS)
        .order_by()
    )


def select_event_candidates(campaign, events):
    """Candidates among `events` (an Event queryset: the batch, or a simulated period)."""
    return candidates_from_rows(campaign, list(event_candidate_rows(campaign, events)))


def select_many_event_candidates(selections, batch_rows=None):
    """{campaign.pk: candidates} for [(campaign, events queryset)], in ONE statement (a
    UNION ALL of each campaign's own selection, tagged with its id): the same rows as
    select_event_candidates per campaign, without a round trip and a plan per campaign.
    `batch_rows`: {campaign.pk: the batch's rows of its event types} (row_filters.read_batch_rows):
    a campaign whose rule row_filters.row_filter decides is selected from them in Python, and
    only the others by the statement (none: no statement). A query error raises (the caller
    falls back to one selection per campaign)."""
    found, in_sql = {}, []
    for campaign, events in selections:
        test = row_filters.row_filter(campaign) if batch_rows is not None else None
        if test is None:
            in_sql.append((campaign, events))
        else:
            found[campaign.pk] = [row for row in batch_rows[campaign.pk] if test(row)]
    if in_sql:
        parts = [
            event_candidate_rows(campaign, events)
            .annotate(_campaign=Value(campaign.pk))
            .values(*ROW_FIELDS, "_campaign")
            for campaign, events in in_sql
        ]
        query = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        found.update({campaign.pk: [] for campaign, _ in in_sql})
        for row in query:
            found[row.pop("_campaign")].append(row)
    ranks = {}  # nth_event rules of one type over the same rows share one ranking
    return {campaign.pk: candidates_from_rows(campaign, found[campaign.pk], ranks) for campaign, _ in selections}


def candidates_from_rows(campaign, rows, ranks=None):
    """Candidates from selected event rows, in (customer, time, id) order. `ranks`: a dict
    where nth_event rankings are kept for the next rule of the same type and rows."""
    rows = sorted(rows, key=_row_order)
    kind = campaign.trigger_kind
    if kind == K.NTH_EVENT:
        return _nth_candidates(campaign, rows, ranks)
    out = []
    for row in rows:
        context = _event_context(row)
        occurrence = f"event:{row['id']}"
        if kind == K.TICKET_UNRESOLVED:
            ticket = str(row["properties"].get("ticket_id", ""))
            context["ticket_id"] = ticket
            occurrence = f"ticket:{ticket}"
        elif kind == K.SURVEY_ANSWERED:
            context.update({k: row["properties"].get(k) for k in ("survey", "kind", "score")})
        elif kind == K.TIER_CHANGED:
            context.update({k: row["properties"].get(k) for k in ("from", "to")})
        elif kind == K.REFERRAL_CONVERTED:
            context["referred_customer"] = row["properties"].get("referred_customer")
        out.append(Candidate(row["customer_id"], occurrence, row["occurred_at"], row["value"], context))
    return out


def _nth_candidates(campaign, rows, ranks=None):
    """The nth (or every nth, with repeat) event of the type per customer, ranked by time.

    The rank counts every stored event of the type (occurred_at, id order), and those that
    retention rolled up, so the result depends neither on how events were batched nor on
    old months being dropped; `nth:<k>` makes each milestone once-only. The ranking of the
    same type and rows is read once per `ranks` (a 5th and a 10th purchase rule: one query).
    """
    if not rows:
        return []
    n, repeat = campaign.trigger_config["n"], bool(campaign.trigger_config.get("repeat"))
    type_ = campaign.trigger_config["event_type"]
    key = (type_, tuple(row["id"] for row in rows))
    if ranks is None or key not in ranks:
        found = _rank_events(type_, rows)
        if ranks is None:
            ranks = {}
        ranks[key] = found
    out = []
    for row in rows:
        rank = ranks[key].get(row["id"])
        if rank and (rank == n or (repeat and rank % n == 0)):
            context = {**_event_context(row), "nth": rank}
            out.append(Candidate(row["customer_id"], f"nth:{rank}", row["occurred_at"], row["value"], context))
    return out


def _rank_events(type_, rows):
    """{event id: rank} of `rows` among their customers' events of `type_` (stored or rolled up)."""
    wanted = {row["id"] for row in rows}
    customers = sorted({row["customer_id"] for row in rows})
    # The events dropped by retention (engagement.retention) still count: each customer's
    # rolled-up events of the type join the ranking (no id: first among equal times).
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT x.id, x.rank FROM (
                SELECT e.id, ROW_NUMBER() OVER (PARTITION BY e.customer_id ORDER BY e.occurred_at, e.id NULLS FIRST) AS rank
                FROM (SELECT id, customer_id, occurred_at FROM {Event._meta.db_table}
                      WHERE customer_id = ANY(%(customers)s) AND type = %(type)s AND occurred_at <= %(until)s
                      UNION ALL
                      SELECT NULL, r.customer_id, u.at FROM {CustomerEventRollup._meta.db_table} r
                      CROSS JOIN LATERAL unnest(r.types, r.times) AS u(type, at)
                      WHERE r.customer_id = ANY(%(customers)s) AND u.type = %(type)s) e) x
            WHERE x.id = ANY(%(wanted)s)""",
            {
                "customers": customers,
                "type": type_,
                "until": max(row["occurred_at"] for row in rows),
                "wanted": sorted(wanted),
            },
        )
        return dict(cursor.fetchall())


def deferred_due_at(campaign, occurred_at):
    config = campaign.trigger_config
    if campaign.trigger_kind == K.CART_ABANDONED:
        return occurred_at + timedelta(minutes=config.get("minutes", DEFAULT_CART_MINUTES))
    return occurred_at + timedelta(hours=config.get("hours", DEFAULT_TICKET_HOURS))


def deferred_still_holds(campaign, customer_id, occurred_at, due_at, context):
    """At due time: no purchase since the abandoned cart / the ticket not resolved in time."""
    events = Event.objects.filter(customer_id=customer_id, occurred_at__gte=occurred_at, occurred_at__lte=due_at)
    if campaign.trigger_kind == K.CART_ABANDONED:
        return not events.filter(type="purchase").exists()
    return not events.filter(type="ticket_resolved", properties__ticket_id=context.get("ticket_id", "")).exists()


def transition_candidates(campaign, transitions):
    """Candidates among ScoreTransition rows (a small batch: filtered here, audience in SQL)."""
    kind, config = campaign.trigger_kind, campaign.trigger_config
    picked = []
    for t in transitions:
        if kind == K.SCORE_THRESHOLD and t.kind == "score":
            before, after, level = float(t.from_value or 0), float(t.to_value or 0), config["threshold"]
            up = config.get("direction", "up") == "up"
            if (up and before < level <= after) or (not up and after < level <= before):
                picked.append(t)
        elif kind == K.SEGMENT_ENTERED and t.kind == "segment":
            if t.to_value in config["segments"] and t.from_value != t.to_value:
                picked.append(t)
        elif kind == K.CHURN_RISK and t.kind in ("churn_risk", "churn_model"):
            if float(t.from_value or 0) < config["above"] <= float(t.to_value or 0):
                picked.append(t)
    if kind == K.CHURN_RISK and picked:
        # A customer valued by the program's purchase model has the model's churn risk (its
        # churn_model transitions); the rule's moves of theirs do not count.
        modelled = purchase_models.list_modelled_customer_ids(
            campaign.program_id, {t.customer_id for t in picked if t.kind == "churn_risk"}
        )
        picked = [t for t in picked if t.kind == "churn_model" or t.customer_id not in modelled]
    if not picked:
        return []
    allowed = set(
        Customer.objects.filter(id__in={t.customer_id for t in picked})
        .filter(campaign_customer_q(campaign))
        .values_list("id", flat=True)
    )
    return [
        Candidate(
            t.customer_id,
            f"transition:{t.id}",
            t.occurred_at,
            None,
            {"transition": t.id, "kind": t.kind, "from": t.from_value, "to": t.to_value},
        )
        for t in picked
        if t.customer_id in allowed
    ]


# --- scheduled kinds (beat) ---------------------------------------------------------------


def _customers(campaign):
    return Customer.objects.filter(program_id=campaign.program_id).filter(campaign_customer_q(campaign))


def inactivity_candidates(campaign, now, since=None):
    """Customers whose last event is more than `days` old. One occurrence per inactive spell
    (keyed by the last_seen_at it started from), so a customer who returns can win back again."""
    days = campaign.trigger_config["days"]
    cutoff = now - timedelta(days=days)
    customers = _customers(campaign).filter(last_seen_at__lt=cutoff)
    if since is not None:
        customers = customers.filter(last_seen_at__gte=since - timedelta(days=days, hours=1))
    return [
        Candidate(
            cid,
            f"inactive:{seen.strftime('%Y%m%dT%H%M%S')}",
            seen + timedelta(days=days),
            None,
            {"last_seen_at": seen.isoformat(), "days": days},
        )
        for cid, seen in customers.values_list("id", "last_seen_at")
    ]


def _same_day(local_day):
    """(month, day) pairs celebrated on `local_day` (29 February falls on the 28th otherwise)."""
    days = [(local_day.month, local_day.day)]
    is_leap = local_day.year % 4 == 0 and (local_day.year % 100 != 0 or local_day.year % 400 == 0)
    if (local_day.month, local_day.day) == (2, 28) and not is_leap:
        days.append((2, 29))
    return days


def date_candidates(campaign, now):
    """Birthdays or signup anniversaries falling today in each customer's own time zone."""
    which = campaign.trigger_config["which"]
    program_tz = campaign.program.timezone
    customers = _customers(campaign).annotate(tz=Coalesce(NullIf("timezone", Value("")), Value(program_tz)))
    out = []
    for tz_name in customers.values_list("tz", flat=True).distinct().order_by():
        tz = zoneinfo.ZoneInfo(tz_name)
        local_day = now.astimezone(tz).date()
        group = customers.filter(tz=tz_name)
        day_q = Q()
        if which == "birthday":
            for month, day in _same_day(local_day):
                day_q |= Q(birth_date__month=month, birth_date__day=day)
            rows = group.filter(day_q).values_list("id", flat=True)
        else:
            group = group.annotate(m=ExtractMonth("created_at", tzinfo=tz), d=ExtractDay("created_at", tzinfo=tz))
            for month, day in _same_day(local_day):
                day_q |= Q(m=month, d=day)
            rows = group.filter(day_q).filter(created_at__lt=now - timedelta(days=300)).values_list("id", flat=True)
        start = datetime.combine(local_day, datetime.min.time(), tzinfo=tz)
        out += [
            Candidate(cid, f"{which}:{local_day.year}", start, None, {which: local_day.isoformat()}) for cid in rows
        ]
    return out


def schedule_period(campaign, now):
    """The period key due at `now` in the program's time zone, or None before its day."""
    config = campaign.trigger_config
    local: date = now.astimezone(zoneinfo.ZoneInfo(campaign.program.timezone)).date()
    frequency, day = config["frequency"], config.get("day", 1)
    if frequency == "daily":
        return local.isoformat()
    if frequency == "weekly":
        # day: 1 = Monday ... 7 = Sunday
        if local.isoweekday() < day:
            return None
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if local.day < day:
        return None
    return f"{local.year}-{local.month:02d}"


def schedule_candidates(campaign, now, period):
    """A deterministic sample (sample_percent of the audience) for the schedule period."""
    percent = campaign.trigger_config.get("sample_percent", 100)
    customers = _customers(campaign)
    if percent < 100:
        seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(period)) + campaign.pk
        customers = customers.annotate(bucket=Mod(F("id") * SAMPLE_MULTIPLIER + seed, 100)).filter(bucket__lt=percent)
    return [
        Candidate(cid, f"schedule:{period}", now, None, {"period": period})
        for cid in customers.values_list("id", flat=True)
    ]
