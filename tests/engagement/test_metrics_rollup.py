"""Daily metric totals and email pairs (engagement.metrics.rollup): metrics with the rollup
built are exactly those from the events, whatever the period's edges, segment and message,
and stay so after late events, erasure and retention change built days."""

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement import metrics
from engagement.erasure import erase_customer
from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.metrics import customer_days, rollup
from engagement.metrics.base import BUILTIN
from engagement.models import (
    Customer,
    CustomerScore,
    Event,
    MetricDay,
    MetricDayAdvocacy,
    MetricDayBuyer,
    MetricDayEmailPair,
    MetricDayTotal,
)
from engagement.retention import roll_up_program
from tests.factories import ProgramFactory

# Three monthly partitions: January to March 2025.
ORIGIN = datetime(2025, 1, 20, tzinfo=UTC)
SPAN_DAYS = 60
TODAY = date(2025, 4, 10)
NAMES = sorted(BUILTIN)
_ids = itertools.count()


def ev(customer, type_, at, value=None, **properties):
    return Event(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"ru-{next(_ids)}",
        type=type_,
        occurred_at=at,
        value=None if value is None else Decimal(value),
        properties=properties,
    )


def values(program, start, end, **filters):
    return {name: v.as_dict() for name, v in metrics.compute_metrics(program, NAMES, start, end, **filters).items()}


def from_events(program, start, end, **filters):
    """The metrics with every day read from the events (no clean marker)."""
    clean = list(MetricDay.objects.filter(program=program, dirty=False).values_list("day", flat=True))
    MetricDay.objects.filter(program=program).update(dirty=True)
    try:
        return values(program, start, end, **filters)
    finally:
        MetricDay.objects.filter(program=program, day__in=clean).update(dirty=False)


def build(program):
    return rollup.build_program(program.pk, today=TODAY, since=ORIGIN.date())


# One event of each additive family, and of the others that read the same days.
event_kinds = st.one_of(
    st.builds(lambda: ("page_view", None, {"url": "/"})),
    st.builds(
        lambda d, pv, exit_: ("session", None, {"duration_seconds": d, "page_views": pv} | exit_),
        st.integers(0, 900),
        st.integers(1, 3),
        st.sampled_from([{}, {"exit_page": "/"}]),
    ),
    st.builds(
        lambda kind, score: ("survey_answered", None, {"kind": kind, "score": score}),
        st.sampled_from(["nps", "csat", "ces", "custom"]),
        st.integers(0, 10),
    ),
    st.builds(
        lambda cents, recurring: ("purchase", f"{cents / 100:.2f}", {"recurring": recurring}),
        st.integers(0, 99_999),
        st.booleans(),
    ),
    st.builds(
        lambda type_: (type_, None, {}),
        st.sampled_from(["social_like", "event_registered", "event_attended", "referral_sent", "social_share"]),
    ),
    st.builds(lambda: ("referral_converted", None, {"referred_customer": "c-1"})),
    st.builds(
        lambda t, message: (t, None, message),
        st.sampled_from(
            ["email_sent", "email_bounced", "email_opened", "email_clicked", "email_unsubscribed", "email_converted"]
        ),
        # A pair repeated on one day and across days, and an email event without a message id.
        st.sampled_from([{"message_id": "m1"}, {"message_id": "m2"}, {}]),
    ),
)
history = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, SPAN_DAYS * 86400 - 1), event_kinds), min_size=0, max_size=40
)
seconds = st.integers(0, SPAN_DAYS * 86400)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=history,
    window=st.tuples(seconds, st.integers(1, SPAN_DAYS * 86400)),
    midnight_edges=st.tuples(st.booleans(), st.booleans()),
    dirty=st.sets(st.integers(0, SPAN_DAYS), max_size=5),
)
def test_metrics_with_the_totals_are_those_from_the_events(rows, window, midnight_edges, dirty):
    # Given random events over three months, built, and a few days dirty again
    program = ProgramFactory()
    people = Customer.objects.bulk_create([Customer(program=program, external_id=f"c-{i}") for i in range(4)])
    CustomerScore.objects.bulk_create(
        [CustomerScore(customer=c, program=program, segment="Champions", scored_at=ORIGIN) for c in people[:2]]
    )
    Event.objects.bulk_create(
        [ev(people[who], t, ORIGIN + timedelta(seconds=at), v, **props) for who, at, (t, v, props) in rows]
    )
    build(program)
    rollup.mark_days_dirty(program.pk, [ORIGIN.date() + timedelta(days=n) for n in dirty])
    # And a window with edges inside days or at midnight
    start = ORIGIN + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    if midnight_edges[0]:
        start = start.replace(hour=0, minute=0, second=0)
    if midnight_edges[1] and end.replace(hour=0, minute=0, second=0) > start:
        end = end.replace(hour=0, minute=0, second=0)
    # Then every metric is the same as from the events alone, for a segment and a message too
    assert values(program, start, end) == from_events(program, start, end)
    for filters in ({"segment": "Champions"}, {"message_id": "m1"}, {"segment": "Champions", "message_id": "m2"}):
        assert values(program, start, end, **filters) == from_events(program, start, end, **filters)


EMAIL_NAMES = ["emails_delivered", "email_open_rate", "email_ctr", "email_unsubscribe_rate"]
# Few customers, types and messages over ten days: pairs repeat across days, often.
email_events = st.tuples(
    st.integers(0, 1),
    st.integers(0, 10 * 86400 - 1),
    st.sampled_from(["email_sent", "email_opened"]),
    st.sampled_from([{"message_id": "m1"}, {}]),
)


def email_values(program, start, end, **filters):
    got = metrics.compute_metrics(program, EMAIL_NAMES, start, end, **filters)
    return {name: v.as_dict() for name, v in got.items()}


def prev_days_are_linked(program):
    """Every pair row's prev_day is the latest earlier day of the same pair, or NULL."""
    rows = list(
        MetricDayEmailPair.objects.filter(program=program).values_list(
            "customer_id", "type", "message", "day", "prev_day"
        )
    )
    for customer_id, type_, message, day, prev_day in rows:
        earlier = [d for c, t, m, d, _ in rows if (c, t, m) == (customer_id, type_, message) and d < day]
        assert prev_day == (max(earlier) if earlier else None)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(email_events, max_size=30),
    late=st.lists(email_events, max_size=8),
    deleted=st.sets(st.integers(0, 29), max_size=8),
    rebuilt=st.booleans(),
    window=st.tuples(st.integers(0, 10), st.integers(1, 11)),
)
def test_email_pairs_stay_exact_as_days_are_changed_and_rebuilt(rows, late, deleted, rebuilt, window):
    # Given email events over ten days, built (each row linked to the pair's previous day)
    program = ProgramFactory()
    people = Customer.objects.bulk_create([Customer(program=program, external_id=f"c-{i}") for i in range(2)])
    CustomerScore.objects.bulk_create(
        [CustomerScore(customer=people[0], program=program, segment="Champions", scored_at=ORIGIN)]
    )

    def events_of(batch):
        return [ev(people[who], t, ORIGIN + timedelta(seconds=at), **props) for who, at, t, props in batch]

    stored = Event.objects.bulk_create(events_of(rows))
    build(program)
    prev_days_are_linked(program)
    # When late events arrive and some events are deleted (their days dirty), rebuilt or not
    gone = [stored[i] for i in sorted(deleted) if i < len(stored)]
    Event.objects.filter(pk__in=[e.pk for e in gone]).delete()
    added = Event.objects.bulk_create(events_of(late))
    rollup.mark_days_dirty(program.pk, rollup.utc_days(e.occurred_at for e in [*gone, *added]))
    if rebuilt:
        build(program)
        prev_days_are_linked(program)
    # Then the email metrics of any run of days are those from the events alone
    start = ORIGIN.replace(hour=0) + timedelta(days=window[0])
    end = start + timedelta(days=window[1])
    for filters in ({}, {"segment": "Champions"}, {"message_id": "m1"}):
        assert email_values(program, start, end, **filters) == {
            name: v for name, v in from_events(program, start, end, **filters).items() if name in EMAIL_NAMES
        }


def opened_pairs(program, first_day, last_day):
    start = datetime(2025, 2, first_day, tzinfo=UTC)
    got = metrics.compute_metrics(program, ["email_open_rate"], start, datetime(2025, 2, last_day + 1, tzinfo=UTC))
    return got["email_open_rate"].numerator


@pytest.mark.django_db
def test_a_pair_whose_middle_day_is_rebuilt_without_it_links_to_the_day_before():
    # Given Alice opening m1 on February 10, 11 and 12, built
    program = ProgramFactory()
    alice = Customer.objects.create(program=program, external_id="alice")
    opened = Event.objects.bulk_create(
        [ev(alice, "email_opened", datetime(2025, 2, day, 9, tzinfo=UTC), message_id="m1") for day in (10, 11, 12)]
    )
    build(program)
    # When the 11th's open is deleted and its day rebuilt
    Event.objects.filter(pk=opened[1].pk).delete()
    rollup.mark_days_dirty(program.pk, [date(2025, 2, 11)])
    build(program)
    # Then the 12th's pair links to the 10th, and counts over the 11th and 12th
    assert sorted(MetricDayEmailPair.objects.filter(program=program).values_list("day", "prev_day")) == [
        (date(2025, 2, 10), None),
        (date(2025, 2, 12), date(2025, 2, 10)),
    ]
    assert opened_pairs(program, 11, 12) == 1
    assert opened_pairs(program, 10, 12) == 1


@pytest.mark.django_db
def test_a_pair_linked_to_a_dirty_day_counts_once_over_the_clean_days_around_it():
    # Given Alice opening m1 on February 10, 11 and 12, built, and the 11th dirty (a late event)
    program = ProgramFactory()
    alice = Customer.objects.create(program=program, external_id="alice")
    Event.objects.bulk_create(
        [ev(alice, "email_opened", datetime(2025, 2, day, 9, tzinfo=UTC), message_id="m1") for day in (10, 11, 12)]
    )
    build(program)
    Event.objects.bulk_create([ev(alice, "email_sent", datetime(2025, 2, 11, 8, tzinfo=UTC), message_id="m2")])
    rollup.mark_days_dirty(program.pk, [date(2025, 2, 11)])
    # Then the three days hold one opened pair (the 12th's row links to the dirty 11th: the
    # 10th is looked up), and the 11th and 12th one too
    assert opened_pairs(program, 10, 12) == 1
    assert opened_pairs(program, 11, 12) == 1
    assert opened_pairs(program, 12, 12) == 1


def buyers_of(program, first_day, last_day, end_hour=0):
    """(buyers, repeat buyers) of February first_day 00:00 to last_day + 1 (plus end_hour)."""
    start = datetime(2025, 2, first_day, tzinfo=UTC)
    end = datetime(2025, 2, last_day + 1, end_hour, tzinfo=UTC)
    got = metrics.compute_metrics(program, ["repeat_purchase_rate"], start, end)["repeat_purchase_rate"]
    assert got.as_dict() == from_events(program, start, end)["repeat_purchase_rate"]
    return got.denominator, got.numerator


@pytest.mark.django_db
def test_buyers_and_repeat_buyers_from_the_linked_purchase_days():
    # Given purchases on February 10-14: Ann twice on the 10th; Ben on the 10th and 12th; Cat
    # on the 11th, 12th (dirty later) and 14th; Dan on the 14th and on the 15th after midnight
    program = ProgramFactory()
    ann, ben, cat, dan = Customer.objects.bulk_create(
        [Customer(program=program, external_id=name) for name in ("ann", "ben", "cat", "dan")]
    )

    def buy(who, day, hour=9):
        return ev(who, "purchase", datetime(2025, 2, day, hour, tzinfo=UTC), "10.00")

    bought = Event.objects.bulk_create(
        [buy(ann, 10), buy(ann, 10, 11), buy(ben, 10), buy(ben, 12), buy(cat, 11), buy(cat, 12), buy(cat, 14)]
        + [buy(dan, 14), buy(dan, 15, 0)]
    )
    build(program)
    rows = MetricDayBuyer.objects.filter(program=program)
    assert sorted(rows.values_list("customer__external_id", "day", "purchases", "prev_day", "next_day")) == [
        ("ann", date(2025, 2, 10), 2, None, None),
        ("ben", date(2025, 2, 10), 1, None, date(2025, 2, 12)),
        ("ben", date(2025, 2, 12), 1, date(2025, 2, 10), None),
        ("cat", date(2025, 2, 11), 1, None, date(2025, 2, 12)),
        ("cat", date(2025, 2, 12), 1, date(2025, 2, 11), date(2025, 2, 14)),
        ("cat", date(2025, 2, 14), 1, date(2025, 2, 12), None),
        ("dan", date(2025, 2, 14), 1, None, date(2025, 2, 15)),
        ("dan", date(2025, 2, 15), 1, date(2025, 2, 14), None),
    ]
    # Then: two purchases on one day, on two clean days, and with the rest's (Dan's 15th)
    assert buyers_of(program, 10, 14) == (4, 3)
    assert buyers_of(program, 10, 14, end_hour=1) == (4, 4)
    assert buyers_of(program, 12, 14) == (3, 1)
    assert buyers_of(program, 13, 14, end_hour=1) == (2, 1)
    # When the 12th is dirty (a late event): Cat's 11th links to it, the 14th is looked up
    Event.objects.bulk_create([ev(dan, "page_view", datetime(2025, 2, 12, 8, tzinfo=UTC))])
    rollup.mark_days_dirty(program.pk, [date(2025, 2, 12)])
    assert buyers_of(program, 10, 14) == (4, 3)
    assert buyers_of(program, 11, 11) == (1, 0)
    assert buyers_of(program, 11, 14) == (3, 1)
    # When Ben's 12th purchase is deleted and the day rebuilt: his 10th has no next day
    Event.objects.filter(pk=bought[3].pk).delete()
    rollup.mark_days_dirty(program.pk, [date(2025, 2, 12)])
    build(program)
    assert rows.get(customer=ben).next_day is None
    assert buyers_of(program, 10, 14) == (4, 2)
    # When Cat is erased: her rows go at once, her days are dirty and read from her events,
    # which erasure keeps without her personal data
    Event.objects.filter(program=program).update(processed_at=datetime(2025, 3, 1, tzinfo=UTC))
    erase_customer(cat)
    assert not rows.filter(customer=cat).exists()
    assert buyers_of(program, 10, 14) == (4, 2)


def sessions_history(program):
    alice, bob = Customer.objects.bulk_create(
        [Customer(program=program, external_id="alice", name="Alice"), Customer(program=program, external_id="bob")]
    )
    day = datetime(2025, 2, 10, tzinfo=UTC)
    Event.objects.bulk_create(
        [
            ev(alice, "session", day + timedelta(hours=9), duration_seconds=100, page_views=1),
            ev(bob, "session", day + timedelta(hours=10), duration_seconds=300, page_views=2, exit_page="/"),
            ev(alice, "page_view", day + timedelta(hours=9), url="/"),
            ev(bob, "purchase", day + timedelta(hours=11), "12.50", recurring=True),
            ev(alice, "survey_answered", day + timedelta(days=1), kind="nps", score=10),
        ]
    )
    return alice, bob


FEBRUARY = (datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))


def picked(program, *names):
    got = metrics.compute_metrics(program, list(names), *FEBRUARY)
    return {name: got[name].value for name in names}


@pytest.mark.django_db
def test_the_built_days_hold_the_additive_figures():
    program = ProgramFactory()
    sessions_history(program)
    assert build(program) == (TODAY - ORIGIN.date()).days
    session = MetricDayTotal.objects.get(program=program, type="session")
    assert (session.day, session.events, session.duration_sum, session.bounces, session.exits) == (
        date(2025, 2, 10),
        2,
        400.0,
        1,
        1,
    )
    purchase = MetricDayTotal.objects.get(program=program, type="purchase")
    assert (purchase.events, purchase.value_sum, purchase.recurring_value_sum) == (
        1,
        Decimal("12.50"),
        Decimal("12.50"),
    )
    answer = MetricDayTotal.objects.get(program=program, type="survey_answered")
    assert (answer.day, answer.nps_n, answer.promoters, answer.detractors) == (date(2025, 2, 11), 1, 1, 0)
    assert MetricDay.objects.filter(program=program, dirty=True).count() == 0
    assert picked(program, "page_views", "bounce_rate", "avg_session_duration", "nps", "aov") == {
        "page_views": Decimal(1),
        "bounce_rate": Decimal(50),
        "avg_session_duration": Decimal(200),
        "nps": Decimal(100),
        "aov": Decimal("12.50"),
    }


@pytest.mark.django_db
def test_a_late_event_for_a_built_day_makes_it_dirty_and_counts_at_once():
    program = ProgramFactory()
    sessions_history(program)
    build(program)
    # When a page view arrives late for the built 10 February
    late = CleanEvent("late-1", "page_view", "alice", datetime(2025, 2, 10, 20, tzinfo=UTC), None, "", {"url": "/"})
    assert record_events(program, [late], enqueue=False).accepted == 1
    # Then that day (only) is dirty and the metric counts it at once, from the events
    assert list(MetricDay.objects.filter(program=program, dirty=True).values_list("day", flat=True)) == [
        date(2025, 2, 10)
    ]
    assert picked(program, "page_views") == {"page_views": Decimal(2)}
    # And the next build takes it into the day's totals
    assert build(program) == 1
    assert MetricDayTotal.objects.get(program=program, type="page_view").events == 2
    assert picked(program, "page_views") == {"page_views": Decimal(2)}


@pytest.mark.django_db
def test_erasure_makes_the_customers_days_dirty_and_the_metrics_follow():
    program = ProgramFactory(personal_event_properties=["page_views"])
    alice, _ = sessions_history(program)
    build(program)
    assert picked(program, "bounce_rate") == {"bounce_rate": Decimal(50)}
    # When Alice is erased, her session's page_views becomes "[erased]": no bounce any more
    erase_customer(alice)
    assert sorted(MetricDay.objects.filter(program=program, dirty=True).values_list("day", flat=True)) == [
        date(2025, 2, 10),
        date(2025, 2, 11),
    ]
    assert picked(program, "bounce_rate") == {"bounce_rate": Decimal(0)}
    build(program)
    assert MetricDayTotal.objects.get(program=program, type="session").bounces == 0
    assert picked(program, "bounce_rate") == {"bounce_rate": Decimal(0)}


@pytest.mark.django_db
def test_retention_forgets_the_dropped_days_and_dirties_the_cutoffs():
    program = ProgramFactory()
    sessions_history(program)
    Event.objects.filter(program=program).update(processed_at=datetime(2025, 3, 1, tzinfo=UTC))
    build(program)
    cutoff = datetime(2025, 2, 10, 12, tzinfo=UTC)
    # When retention drops the events before noon on 10 February
    roll_up_program(program.pk, cutoff)
    # Then the days before are forgotten, the cutoff's day is dirty, the later ones stay built
    assert MetricDay.objects.filter(program=program, day__lt=date(2025, 2, 10)).count() == 0
    assert MetricDayTotal.objects.filter(program=program, day__lt=date(2025, 2, 10)).count() == 0
    assert list(MetricDay.objects.filter(program=program, dirty=True).values_list("day", flat=True)) == [
        date(2025, 2, 10)
    ]
    period = (cutoff, datetime(2025, 3, 1, tzinfo=UTC))
    got = metrics.compute_metrics(program, ["page_views", "nps", "aov"], *period)
    assert {name: v.value for name, v in got.items()} == {"page_views": Decimal(0), "nps": Decimal(100), "aov": None}
    # And a rebuild starts at the cutoff's day
    assert build(program) == 1
    assert MetricDayTotal.objects.filter(program=program, day=date(2025, 2, 10)).count() == 0
    got = metrics.compute_metrics(program, ["page_views", "nps", "aov"], *period)
    assert {name: v.value for name, v in got.items()} == {"page_views": Decimal(0), "nps": Decimal(100), "aov": None}


@pytest.mark.django_db
def test_the_beat_task_builds_each_day_once(acme):
    from engagement.tasks import build_metric_rollups_task

    sessions_history(acme)
    with time_machine.travel(datetime(2025, 3, 1, 0, 30, tzinfo=UTC), tick=False):
        first = build_metric_rollups_task()
        totals = list(MetricDayTotal.objects.filter(program=acme).order_by("day", "type").values())
        again = build_metric_rollups_task()
    assert (first, again) == (rollup.BUILD_DAYS, 0)
    assert list(MetricDayTotal.objects.filter(program=acme).order_by("day", "type").values()) == totals
    assert [(t["day"], t["type"]) for t in totals] == [
        (date(2025, 2, 10), "page_view"),
        (date(2025, 2, 10), "purchase"),
        (date(2025, 2, 10), "session"),
        (date(2025, 2, 11), "survey_answered"),
    ]
    assert MetricDay.objects.filter(program=acme).latest("day").day == date(2025, 2, 28)


@pytest.mark.django_db
def test_a_segment_reads_the_events_only(acme):
    sessions_history(acme)
    build(acme)
    MetricDayTotal.objects.filter(program=acme, type="page_view").update(events=99)
    assert picked(acme, "page_views") == {"page_views": Decimal(99)}  # the totals are read...
    got = metrics.compute_metrics(acme, ["page_views"], *FEBRUARY, segment="Champions")
    assert got["page_views"].value == Decimal(0)  # ...never with a segment


def in_thread(fn):
    """fn() on another thread, hence another connection (its own transactions)."""
    from django.db import connection

    out = []

    def run():
        try:
            out.append(fn())
        except Exception as error:  # raised again on the test's thread
            out.append(error)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    if isinstance(out[0], Exception):
        raise out[0]
    return out[0]


@pytest.mark.django_db(transaction=True)
def test_a_build_never_takes_a_day_an_open_late_ingest_is_writing():
    program = ProgramFactory()
    sessions_history(program)
    build(program)
    late = CleanEvent("late-2", "page_view", "alice", datetime(2025, 2, 10, 20, tzinfo=UTC), None, "", {"url": "/"})
    with transaction.atomic():
        # Given a late ingest, not committed yet, that marked 10 February dirty (and holds it)
        record_events(program, [late], enqueue=False)
        # When the builder runs meanwhile: it waits for the open writer, then gives up
        assert in_thread(lambda: rollup.build_program(program.pk, today=TODAY, wait_seconds=0.5)) == 0
        # and a month's build skips the locked day instead of waiting for it
        assert in_thread(lambda: rollup._build_days(program.pk, date(2025, 2, 1), date(2025, 3, 1))) == 0
    # Then after the commit the next build takes the late event in
    assert in_thread(lambda: rollup.build_program(program.pk, today=TODAY, since=ORIGIN.date())) == 1
    assert MetricDayTotal.objects.get(program=program, type="page_view").events == 2
    assert picked(program, "page_views") == {"page_views": Decimal(2)}


def emails_history(program):
    alice, bob = Customer.objects.bulk_create(
        [Customer(program=program, external_id="alice"), Customer(program=program, external_id="bob")]
    )
    day = datetime(2025, 2, 10, 9, tzinfo=UTC)
    Event.objects.bulk_create(
        [
            ev(alice, "email_sent", day, message_id="m1"),
            ev(bob, "email_sent", day, message_id="m1"),
            ev(alice, "email_opened", day + timedelta(hours=1), message_id="m1"),
            ev(alice, "email_opened", day + timedelta(hours=2), message_id="m1"),  # the same pair, same day
            ev(alice, "email_opened", day + timedelta(days=1), message_id="m1"),  # and the next day
            ev(bob, "email_bounced", day + timedelta(minutes=1), message_id="m1"),
        ]
    )
    return alice, bob


def pairs(program):
    return sorted(
        MetricDayEmailPair.objects.filter(program=program).values_list(
            "day", "type", "customer__external_id", "message"
        )
    )


@pytest.mark.django_db
def test_the_built_days_hold_the_distinct_email_pairs_and_count_once_over_days():
    program = ProgramFactory()
    emails_history(program)
    build(program)
    assert pairs(program) == [
        (date(2025, 2, 10), "email_bounced", "bob", "m1"),
        (date(2025, 2, 10), "email_opened", "alice", "m1"),
        (date(2025, 2, 10), "email_sent", "alice", "m1"),
        (date(2025, 2, 10), "email_sent", "bob", "m1"),
        (date(2025, 2, 11), "email_opened", "alice", "m1"),
    ]
    # Alice's opens on two days are one pair: delivered 2 − 1, opened 1 → 100 %
    assert picked(program, "emails_delivered", "email_open_rate") == {
        "emails_delivered": Decimal(1),
        "email_open_rate": Decimal(100),
    }
    got = metrics.compute_metrics(program, ["email_open_rate"], *FEBRUARY, message_id="m2")
    assert got["email_open_rate"].as_dict() == {"value": None, "numerator": 0, "denominator": 0, "unit": "percent"}


@pytest.mark.django_db
def test_the_pairs_of_clean_days_are_read_and_a_dirty_day_from_the_events(acme):
    emails_history(acme)
    build(acme)
    # The pairs of clean days are what the metrics read (an extra opened pair shows)...
    bob = Customer.objects.get(program=acme, external_id="bob")
    MetricDayEmailPair.objects.create(
        program=acme, day=date(2025, 2, 12), type="email_opened", customer=bob, message="m1"
    )
    # (the day counted again, as the builder does after writing pairs)
    with connection.cursor() as cursor:
        customer_days.count_pairs(cursor, acme.pk, [date(2025, 2, 12)])
    assert picked(acme, "email_open_rate") == {"email_open_rate": Decimal(200)}
    # (read row by row for a message, with the same answer)
    got = metrics.compute_metrics(acme, ["email_open_rate"], *FEBRUARY, message_id="m1")["email_open_rate"]
    assert got.value == Decimal(200)
    # ...never those of a dirty day
    rollup.mark_days_dirty(acme.pk, [date(2025, 2, 12)])
    assert picked(acme, "email_open_rate") == {"email_open_rate": Decimal(100)}
    assert build(acme) == 1
    assert MetricDayEmailPair.objects.filter(program=acme, day=date(2025, 2, 12)).count() == 0


@pytest.mark.django_db
def test_erasure_deletes_the_customers_email_pairs_at_once():
    program = ProgramFactory()
    alice, _ = emails_history(program)
    build(program)
    erase_customer(alice)
    assert [p for p in pairs(program) if p[2] == "alice"] == []
    assert [p for p in pairs(program) if p[2] == "bob"] == [
        (date(2025, 2, 10), "email_bounced", "bob", "m1"),
        (date(2025, 2, 10), "email_sent", "bob", "m1"),
    ]
    # The days are dirty: the metrics read them from the events, and the next build writes them again
    assert picked(program, "email_open_rate") == {"email_open_rate": Decimal(100)}
    build(program)
    assert len(pairs(program)) == 5


@pytest.mark.django_db
def test_retention_forgets_the_email_pairs_of_the_dropped_days():
    program = ProgramFactory()
    emails_history(program)
    Event.objects.filter(program=program).update(processed_at=datetime(2025, 3, 1, tzinfo=UTC))
    build(program)
    roll_up_program(program.pk, datetime(2025, 2, 11, 12, tzinfo=UTC))
    assert pairs(program) == [(date(2025, 2, 11), "email_opened", "alice", "m1")]
    assert list(MetricDay.objects.filter(program=program, dirty=True).values_list("day", flat=True)) == [
        date(2025, 2, 11)
    ]


def advocacy_history(program):
    alice, bob = Customer.objects.bulk_create(
        [Customer(program=program, external_id="alice"), Customer(program=program, external_id="bob")]
    )
    day = datetime(2025, 2, 10, 9, tzinfo=UTC)
    Event.objects.bulk_create(
        [
            ev(alice, "survey_answered", day, kind="nps", score=2),
            # Two answers at the same instant: the later event id is the latest
            ev(alice, "survey_answered", day + timedelta(hours=1), kind="nps", score=6),
            ev(alice, "survey_answered", day + timedelta(hours=1), kind="nps", score=9),
            ev(alice, "survey_answered", day + timedelta(hours=2), kind="csat", score=5),
            ev(alice, "social_share", day + timedelta(hours=3)),
            ev(bob, "referral_converted", day, referred_customer="c-9"),
            # Referrals sent: Bob's converted, Alice's (the next day, her only event then) not
            ev(bob, "referral_sent", day - timedelta(hours=1)),
            ev(alice, "referral_sent", day + timedelta(days=1)),
            # Bob's answer the next day is his latest; his custom survey is no CAI answer
            ev(bob, "survey_answered", day, kind="nps", score=10),
            ev(bob, "survey_answered", day + timedelta(days=1), kind="nps", score=0),
            ev(bob, "survey_answered", day + timedelta(days=1), kind="custom", score=99),
        ]
    )
    return alice, bob


def advocacy(program):
    return sorted(
        MetricDayAdvocacy.objects.filter(program=program).values_list(
            "day", "customer__external_id", "nps_score", "csat_score", "referrals", "shares", "referrals_sent"
        )
    )


@pytest.mark.django_db
def test_the_built_days_hold_each_customers_latest_answers_and_the_cai_takes_the_latest_over_days():
    program = ProgramFactory()
    advocacy_history(program)
    build(program)
    assert advocacy(program) == [
        (date(2025, 2, 10), "alice", 9.0, 5.0, 0, 1, 0),
        (date(2025, 2, 10), "bob", 10.0, None, 1, 0, 1),
        (date(2025, 2, 11), "alice", None, None, 0, 0, 1),
        (date(2025, 2, 11), "bob", 0.0, None, 0, 0, 0),
    ]
    # Alice: (90 × 0.5 + 100 × 0.3 + 5 × 0.2) / 1 = 76; Bob: (0 × 0.5 + 25 × 0.2) / 0.7 = 7.142857…
    got = metrics.compute_metrics(program, ["cai"], *FEBRUARY)["cai"]
    assert (got.numerator, got.denominator) == (Decimal("83.142857"), 2)
    assert got.as_dict() == from_events(program, *FEBRUARY)["cai"]
    # Read with it: two referrers, Bob's referral converted
    conversion = metrics.compute_metrics(program, ["advocacy_conversion_rate"], *FEBRUARY)["advocacy_conversion_rate"]
    assert conversion.as_dict() == {"value": "50", "numerator": 1, "denominator": 2, "unit": "percent"}
    assert conversion.as_dict() == from_events(program, *FEBRUARY)["advocacy_conversion_rate"]


@pytest.mark.django_db
def test_erasure_and_retention_drop_the_advocacy_rows():
    program = ProgramFactory()
    alice, _ = advocacy_history(program)
    Event.objects.filter(program=program).update(processed_at=datetime(2025, 3, 1, tzinfo=UTC))
    build(program)
    erase_customer(alice)
    assert [row[1] for row in advocacy(program)] == ["bob", "bob"]
    roll_up_program(program.pk, datetime(2025, 2, 11, 12, tzinfo=UTC))
    assert advocacy(program) == [(date(2025, 2, 11), "bob", 0.0, None, 0, 0, 0)]
