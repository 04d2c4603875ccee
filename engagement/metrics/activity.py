"""METRICS.md sections 1-5: website, social, email, survey and event-campaign metrics."""

from decimal import Decimal

from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Sum, When
from django.db.models.fields.json import KT

from engagement.metrics import customer_days, rollup
from engagement.metrics.base import (
    count,
    events,
    events_in,
    json_float,
    json_int,
    mean,
    metric,
    not_merged,
    q_property,
    sql_row,
    type_count,
)
from engagement.metrics.types import MetricValue, rate
from engagement.models import CustomerEventRollup, Event

# --- 1. Website ---


@metric("page_views", "count", "website")
def page_views(ctx):
    def compute():
        if not ctx.page:
            return count(type_count(ctx, "page_view"))
        return count(events(ctx, "page_view").filter(q_property("url", ctx.page)).count())

    return ctx.once("page_views", compute)


def _sessions(ctx):
    """Session totals shared by the website metrics, in one pass over the period's sessions
    (without a segment: over what the daily totals leave, engagement.metrics.rollup)."""
    if not ctx.segment:
        names = {"n": "events", "total": "duration_sum", "bounced": "bounces", "exits": "exits"}
        return {key: rollup.figure(ctx, "session", name) for key, name in names.items()}
    return ctx.once(
        "sessions",
        lambda: events(ctx, "session").aggregate(
            n=Count("id"),
            total=Sum(json_float("duration_seconds")),
            bounced=Count("id", filter=Q(properties__page_views=1)),
            exits=Count("id", filter=Q(properties__has_key="exit_page")),
        ),
    )


@metric("avg_session_duration", "seconds", "website")
def avg_session_duration(ctx):
    totals = _sessions(ctx)
    return mean(totals["total"], totals["n"], "seconds")


@metric("bounce_rate", "percent", "website")
def bounce_rate(ctx):
    totals = _sessions(ctx)
    return rate(totals["bounced"], totals["n"])


@metric("exit_rate", "percent", "website")
def exit_rate(ctx):
    """Sessions exiting on `page` / page views of `page`; without a page, over all pages."""
    if ctx.page:
        sessions = events(ctx, "session").filter(q_property("exit_page", ctx.page))
        return rate(sessions.count(), page_views(ctx).numerator)
    return rate(_sessions(ctx)["exits"], page_views(ctx).numerator)


# --- 2. Social ---


def _social(ctx, type_):
    if not ctx.network:
        return count(type_count(ctx, type_))
    return count(events(ctx, type_).filter(q_property("network", ctx.network)).count())


@metric("social_likes", "count", "social")
def social_likes(ctx):
    return _social(ctx, "social_like")


@metric("social_shares", "count", "social")
def social_shares(ctx):
    return _social(ctx, "social_share")


@metric("social_comments", "count", "social")
def social_comments(ctx):
    return _social(ctx, "social_comment")


@metric("social_clicks", "count", "social")
def social_clicks(ctx):
    return _social(ctx, "social_click")


# --- 3. Email: unique per (customer, message_id) ---


def _email(ctx, *types):
    return _with_message(ctx, events(ctx, *types))


def _with_message(ctx, qs):
    qs = qs.annotate(message=KT("properties__message_id"))
    if ctx.message_id:
        qs = qs.filter(message=ctx.message_id)
    return qs


def _email_in(ctx, ranges):
    """The email events of `ranges` ([start, end) pairs), segment and message applied."""
    return _with_message(ctx, events_in(ctx, ranges, *EMAIL_TYPES))


EMAIL_TYPES = customer_days.EMAIL_TYPES


def _pairs(qs):
    return qs.values("customer_id", "message").distinct().count()


def _email_pairs(ctx, type_):
    """Distinct (customer, message) pairs of an email event type. The five types are counted
    in one statement, shared by the email metrics: the clean days' pairs kept by the rollup
    and the rest of the period's email events (engagement.metrics.customer_days)."""

    def compute():
        return customer_days.email_pairs(ctx, rollup.days_split(ctx), lambda ranges: _email_in(ctx, ranges))

    return ctx.once("email_pairs", compute).get(type_, 0)


def _delivered(ctx):
    return max(_email_pairs(ctx, "email_sent") - _email_pairs(ctx, "email_bounced"), 0)


@metric("emails_delivered", "count", "email")
def emails_delivered(ctx):
    return count(_delivered(ctx))


@metric("email_open_rate", "percent", "email")
def email_open_rate(ctx):
    return rate(_email_pairs(ctx, "email_opened"), _delivered(ctx))


@metric("email_ctr", "percent", "email")
def email_ctr(ctx):
    return rate(_email_pairs(ctx, "email_clicked"), _delivered(ctx))


@metric("email_conversion_rate", "percent", "email")
def email_conversion_rate(ctx):
    """Conversions preceded by a click on the same message by the same customer."""
    clicked_before = (
        Event.objects.filter(
            program=ctx.program,
            type="email_clicked",
            customer_id=OuterRef("customer_id"),
            occurred_at__lte=OuterRef("occurred_at"),
        )
        .annotate(clicked_message=KT("properties__message_id"))
        .filter(clicked_message=OuterRef("message"))
    )
    # A click on an event dropped by retention is before every period metrics answer for
    # (engagement.retention): its message id is kept in the customer's rollup.
    clicked_rolled_up = CustomerEventRollup.objects.filter(
        customer_id=OuterRef("customer_id"), clicked_messages__contains=[OuterRef("message")]
    )
    converted = _email(ctx, "email_converted").filter(Exists(clicked_before) | Exists(clicked_rolled_up))
    return rate(_pairs(converted), _delivered(ctx))


@metric("email_unsubscribe_rate", "percent", "email")
def email_unsubscribe_rate(ctx):
    return rate(_email_pairs(ctx, "email_unsubscribed"), _delivered(ctx))


# --- 4. Surveys: survey_answered events (properties kind, score) ---


SURVEY_KINDS = ("nps", "csat", "ces")


def answers(ctx, kind):
    return events(ctx, "survey_answered").filter(q_property("kind", kind)).annotate(score=json_int("score"))


def _answer_totals(ctx):
    """Counts and sums of the period's NPS, CSAT and CES answers in one pass, shared by the
    survey metrics. Only those kinds' scores are read as integers (a custom survey's score
    may be anything). Each answer's kind and score are read from its JSON once (not once per
    figure: that took a third of the pass)."""

    def compute():
        if not ctx.segment:
            return {name: rollup.figure(ctx, "survey_answered", name) for name in ANSWER_TOTALS}
        known = Q(properties__kind__in=SURVEY_KINDS)
        per_answer = events(ctx, "survey_answered").values(
            kind=KT("properties__kind"),
            score=Case(When(known, then=json_int("score")), default=None, output_field=IntegerField()),
        )
        row = sql_row(
            per_answer,
            f"""SELECT COUNT(CASE WHEN x.kind = 'nps' THEN 1 END), COUNT(CASE WHEN x.kind = 'nps' AND x.score >= 9 THEN 1 END),
                       COUNT(CASE WHEN x.kind = 'nps' AND x.score <= 6 THEN 1 END),
                       COUNT(CASE WHEN x.kind = 'csat' THEN 1 END), COUNT(CASE WHEN x.kind = 'csat' AND x.score >= 4 THEN 1 END),
                       COUNT(CASE WHEN x.kind = 'ces' THEN 1 END), SUM(CASE WHEN x.kind = 'ces' THEN x.score END),
                       COUNT(CASE WHEN x.kind = 'ces' AND x.score >= 5 THEN 1 END)
                FROM ({{inner}}{not_merged()}) x""",
        )
        return dict(zip(ANSWER_TOTALS, row, strict=True))

    return ctx.once("answers", compute)


ANSWER_TOTALS = ["nps_n", "promoters", "detractors", "csat_n", "satisfied", "ces_n", "ces_total", "easy"]


@metric("nps", "score", "surveys")
def nps(ctx):
    totals = _answer_totals(ctx)
    net, n = totals["promoters"] - totals["detractors"], totals["nps_n"]
    if not n:
        return MetricValue(None, net, 0, "score")
    return MetricValue(Decimal(net) * 100 / n, net, n, "score")


@metric("csat", "percent", "surveys")
def csat(ctx):
    totals = _answer_totals(ctx)
    return rate(totals["satisfied"], totals["csat_n"])


@metric("ces", "score", "surveys")
def ces(ctx):
    totals = _answer_totals(ctx)
    return mean(totals["ces_total"], totals["ces_n"], "score")


@metric("ces_easy_rate", "percent", "surveys")
def ces_easy_rate(ctx):
    totals = _answer_totals(ctx)
    return rate(totals["easy"], totals["ces_n"])


# --- 5. Events and campaigns ---


@metric("event_registrations", "count", "events")
def event_registrations(ctx):
    return count(type_count(ctx, "event_registered"))


@metric("event_attendance", "count", "events")
def event_attendance(ctx):
    return count(type_count(ctx, "event_attended"))


@metric("event_interactions", "count", "events")
def event_interactions(ctx):
    return count(type_count(ctx, "event_interaction"))


@metric("attendance_rate", "percent", "events")
def attendance_rate(ctx):
    return rate(type_count(ctx, "event_attended"), type_count(ctx, "event_registered"))
