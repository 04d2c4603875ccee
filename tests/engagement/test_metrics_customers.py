"""The customer counts of METRICS.md section 6 (engagement.metrics.customers): from the first
and last seen times that event processing keeps on each customer, they equal the counts from
the events themselves, whatever mix of processed and unprocessed events, events after the
period and events long before it."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.metrics.base import Ctx
from engagement.metrics.customers import Activity, activity, activity_from_aggregates, activity_from_events
from engagement.models import Customer, CustomerScore, Event
from engagement.processing import process_events
from tests.factories import ProgramFactory

BASE = datetime(2025, 6, 1, tzinfo=UTC)
SEGMENTS = [None, "Champions", "Lost"]
_ids = itertools.count()

# Whole days, so that events often fall exactly on a period's start, end or lookback bounds.
days = st.integers(min_value=-240, max_value=60)
event = st.tuples(days, st.booleans())  # (day, processed)
customer = st.tuples(st.sampled_from(SEGMENTS), st.lists(event, max_size=6))
period = st.tuples(st.integers(min_value=-150, max_value=40), st.sampled_from([1, 7, 30, 90, 365]))


def at(day):
    return BASE + timedelta(days=day)


def build(program, people):
    """Customers with their segment and events; the events marked processed go through
    event processing (claims them and updates the customers' first/last seen times)."""
    processed = []
    for n, (segment, history) in enumerate(people):
        person = Customer.objects.create(program=program, external_id=f"p-{n}")
        if segment:
            CustomerScore.objects.create(customer=person, program=program, segment=segment, scored_at=BASE)
        for day, is_processed in history:
            row = Event.objects.create(
                program=program, customer=person, event_id=f"a-{next(_ids)}", type="page_view", occurred_at=at(day)
            )
            if is_processed:
                processed.append(row.pk)
    process_events(processed)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(customer, max_size=8),
    periods=st.lists(period, min_size=1, max_size=4),
    lookback_days=st.sampled_from([30, 90]),
)
def test_counts_from_first_and_last_seen_equal_counts_from_events(db, people, periods, lookback_days):
    program = ProgramFactory(churn_lookback_days=lookback_days)
    build(program, people)

    for (start_day, length), segment in itertools.product(periods, SEGMENTS):
        ctx = Ctx(program, at(start_day), at(start_day + length), segment)
        assert activity_from_aggregates(ctx) == activity_from_events(ctx), (start_day, length, segment)


def test_counts_from_first_and_last_seen(acme, globex):
    # Given, for the period [day 0, day 30) with a 90-day lookback (from day -90):
    build(
        acme,
        [
            ("Champions", [(-200, True), (10, True)]),  # active at start? only a probe can tell: no
            (None, [(-200, True), (-50, True), (10, True)]),  # at start (probe: yes), active, at end
            (None, [(-90, True)]),  # at start (exactly at the lookback's start), lost
            (None, [(-91, True)]),  # before the lookback: counts nowhere
            (None, [(0, True), (29, True)]),  # new
            (None, [(-10, True), (30, True)]),  # seen at the period's end: counted from its events
            (None, [(-20, True), (5, False)]),  # an unprocessed event: counted from its events
            (None, [(15, False)]),  # only unprocessed: new
        ],
    )
    build(globex, [(None, [(-10, True), (10, True)])])  # another program's: never counted

    ctx = Ctx(acme, at(0), at(30))

    expected = Activity(at_start=4, lost=2, at_end=6, active=5, new=2)
    assert activity_from_aggregates(ctx) == expected
    assert activity_from_events(ctx) == expected
    assert activity(ctx) == expected
    assert activity_from_aggregates(Ctx(acme, at(0), at(30), "Champions")) == Activity(0, 0, 1, 1, 0)
