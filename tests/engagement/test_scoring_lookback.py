"""A full pass's RFM inputs from the stored ones minus the purchases that left the lookback
(engagement.scoring, "RFM inputs from the stored ones"): each case against a pass that reads
every customer's events again."""

import itertools
import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engagement import processing, retention, scoring
from engagement.erasure import erase_customer
from engagement.models import (
    CustomerEventRollup,
    CustomerScore,
    CustomerScoreSnapshot,
    Event,
    EventKey,
    ScoreTransition,
)
from engagement.scoring.sql import SNAPSHOT_COLUMNS
from tests.engagement.test_scoring import NOW, ev, person, score_of
from tests.factories import ProgramFactory

YEAR = timedelta(days=365)  # the default lookback
US = timedelta(microseconds=1)
_ids = itertools.count()


def buy(customer, at, value):
    """A processed purchase at the instant `at`."""
    event = Event.objects.create(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"lb-{next(_ids)}",
        type="purchase",
        occurred_at=at,
        value=None if value is None else Decimal(value),
    )
    processing.process_events([event.id])


def shown(program):
    rows = CustomerScore.objects.filter(program=program).values_list("customer__external_id", *scoring.SHOWN)
    return {name: values for name, *values in rows}


def read_again(program, now):
    """The figures of a pass as of `now` that reads every customer's events (no stored row is
    valid), which must record no transition after a pass as of the same instant."""
    CustomerScore.objects.filter(program=program).update(weights_key=0)
    assert scoring.rescore_program(program, now=now).transitions == 0
    return shown(program)


def rfm(program, name):
    row = shown(program)[name]
    return tuple(row[scoring.SHOWN.index(c)] for c in ("frequency", "monetary", "last_purchase_at"))


def test_a_purchase_at_the_lookback_start_is_in_it_and_one_a_microsecond_earlier_is_not(acme):
    later = NOW + timedelta(days=1)
    names = ["on_start", "just_before", "just_after", "on_old_start"]
    on_start, just_before, just_after, on_old_start = (person(acme, n) for n in names)
    for customer in (on_start, just_before, just_after, on_old_start):
        buy(customer, NOW - timedelta(days=10), "1.00")
    buy(on_start, later - YEAR, "2.00")
    buy(just_before, later - YEAR - US, "3.00")
    buy(just_after, later - YEAR + US, "4.00")
    buy(on_old_start, NOW - YEAR, "5.00")  # the first pass's lookback start: in it, then left
    scoring.rescore_program(acme, now=NOW)
    assert [rfm(acme, n)[0] for n in names] == [2, 2, 2, 2]

    scoring.rescore_program(acme, now=later)

    fast = shown(acme)
    assert [rfm(acme, n)[:2] for n in names] == [
        (2, Decimal("3.00")),
        (1, Decimal("1.00")),
        (2, Decimal("5.00")),
        (1, Decimal("1.00")),
    ]
    assert read_again(acme, later) == fast


def test_a_pass_back_in_time_brings_the_purchases_back(acme):
    buyer = person(acme, "buyer")
    buy(buyer, NOW - YEAR + timedelta(hours=1), "7.50")
    buy(buyer, NOW - timedelta(days=3), "2.50")
    scoring.rescore_program(acme, now=NOW + timedelta(hours=2))
    assert rfm(acme, "buyer")[:2] == (1, Decimal("2.50"))

    scoring.rescore_program(acme, now=NOW)

    assert rfm(acme, "buyer")[:2] == (2, Decimal("10.00"))
    assert read_again(acme, NOW) == shown(acme)


def test_a_row_older_than_the_others_loses_the_purchases_that_left_since_its_own_pass(acme):
    # Given an idle buyer whose row no pass rewrites (nothing shown moves) and an active browser
    idle, active = person(acme, "idle"), person(acme, "active")
    ev(idle, "purchase", 300, "9.99")
    ev(active, "page_view", 1, url="/")
    scoring.rescore_program(acme, now=NOW)
    ev(active, "page_view", 0, url="/")
    scoring.rescore_program(acme, now=NOW + timedelta(days=10))
    assert (score_of(idle).scored_at, score_of(active).scored_at) == (NOW, NOW + timedelta(days=10))

    # When a pass comes after the idle buyer's purchase left the lookback (at NOW + 65 days)
    later = NOW + timedelta(days=70)
    scoring.rescore_program(acme, now=later)

    # Then it is taken off their row written as of NOW, not as of the others' NOW + 10 days
    assert rfm(acme, "idle") == (0, Decimal("0.00"), None)
    assert read_again(acme, later) == shown(acme)


def test_a_row_older_than_the_lookback_is_read_again(acme):
    idle, active = person(acme, "idle"), person(acme, "active")
    ev(idle, "purchase", 10, "9.99")
    ev(active, "page_view", 1, url="/")
    scoring.rescore_program(acme, now=NOW)
    later = NOW + YEAR + timedelta(days=1)

    scoring.rescore_program(acme, now=later)

    assert rfm(acme, "idle") == (0, Decimal("0.00"), None)
    assert read_again(acme, later) == shown(acme)


def test_purchases_rolled_up_by_retention_are_taken_off_from_the_rollup(acme):
    # Given a lookback longer than the events kept, and purchases on both sides of its start
    acme.rfm_lookback_days = 900
    acme.save()
    buyer = person(acme, "buyer")
    ev(buyer, "purchase", 899.5, "11.11")  # leaves the lookback half a day after NOW
    ev(buyer, "purchase", 850, "22.22")
    ev(buyer, "purchase", 5, "33.33")
    scoring.rescore_program(acme, now=NOW)
    assert rfm(acme, "buyer")[:2] == (3, Decimal("66.66"))

    # When retention rolls the two old purchases up (deletes their events)
    retention.roll_up_program(acme.id, NOW - timedelta(days=800), now=NOW)
    assert Event.objects.filter(customer=buyer).count() == 1
    assert CustomerEventRollup.objects.get(customer=buyer).amounts == [Decimal("11.11"), Decimal("22.22")]
    later = NOW + timedelta(days=1)
    scoring.rescore_program(acme, now=later)

    # Then the rolled-up purchase that left is taken off, the other one stays
    assert rfm(acme, "buyer") == (2, Decimal("55.55"), NOW - timedelta(days=5))
    assert read_again(acme, later) == shown(acme)


def test_an_erased_customer_keeps_their_purchases_figures(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "purchase", 364.5, "10.00", order_id="1")
    ev(alice, "purchase", 20, "15.00", order_id="2")
    ev(bob, "purchase", 40, "5.00", order_id="3")
    scoring.rescore_program(acme, now=NOW)

    erase_customer(alice)
    later = NOW + timedelta(days=1)
    scoring.rescore_program(acme, now=later)

    assert rfm(acme, "alice") == (1, Decimal("15.00"), NOW - timedelta(days=20))
    assert read_again(acme, later) == shown(acme)


def test_a_changed_lookback_reads_the_purchases_again(acme):
    buyer = person(acme, "buyer")
    ev(buyer, "purchase", 200, "10.00")
    ev(buyer, "purchase", 20, "1.00")
    scoring.rescore_program(acme, now=NOW)
    assert rfm(acme, "buyer")[:2] == (2, Decimal("11.00"))
    acme.rfm_lookback_days = 30
    acme.save()
    later = NOW + timedelta(days=1)

    scoring.rescore_program(acme, now=later)  # nothing left a 365-day lookback since NOW

    assert rfm(acme, "buyer")[:2] == (1, Decimal("1.00"))
    assert score_of(buyer).weights_key == scoring.weights_key(acme)
    assert read_again(acme, later) == shown(acme)
    acme.rfm_lookback_days = 365
    acme.save()
    scoring.rescore_program(acme, now=later + timedelta(hours=1))  # longer again: back in
    assert rfm(acme, "buyer")[:2] == (2, Decimal("11.00"))


def test_a_live_pass_counts_the_lookback_in_utc_days_whatever_the_zone_of_now(acme):
    # 2025-03-30 12:00 in Berlin is summer time, 365 days earlier was winter time: a lookback
    # counted on the wall clock would start an hour later than 365 × 24 hours before.
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    first = datetime(2025, 3, 30, 12, 0, tzinfo=berlin)
    buyer = person(acme, "buyer")
    buy(buyer, first.astimezone(UTC) - YEAR + timedelta(minutes=30), "1.00")  # 365 × 24 h − 30 min before
    buy(buyer, first - timedelta(days=1), "2.00")
    scoring.rescore_program(acme, now=first)
    assert rfm(acme, "buyer")[:2] == (2, Decimal("3.00"))
    later = first + timedelta(days=1)

    scoring.rescore_program(acme, now=later)

    assert rfm(acme, "buyer")[:2] == (1, Decimal("2.00"))
    assert read_again(acme, later) == shown(acme)


def test_changed_weights_and_half_life_with_purchases_leaving(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "purchase", 364.9, "3.00")
    ev(alice, "page_view", 2, url="/")
    ev(bob, "purchase", 100, "4.00")
    scoring.rescore_program(acme, now=NOW)
    acme.score_weights, acme.score_half_life_days = {"page_view": 30}, 7
    acme.save()
    later = NOW + timedelta(days=0.5)

    scoring.rescore_program(acme, now=later)

    assert rfm(acme, "alice") == (0, Decimal("0.00"), None)
    assert score_of(alice).engagement_score == Decimal("100.00")  # the page view now weighs 30
    assert read_again(acme, later) == shown(acme)


def test_cents_are_taken_off_exactly(acme):
    buyer = person(acme, "buyer")
    for days, value in ((364.8, "0.01"), (364.7, "123456789.99"), (364.6, None), (300, "0.10"), (1, "0.20")):
        ev(buyer, "purchase", days, value)
    scoring.rescore_program(acme, now=NOW)
    assert rfm(acme, "buyer")[:2] == (5, Decimal("123456790.30"))
    later = NOW + timedelta(days=0.75)

    scoring.rescore_program(acme, now=later)

    assert rfm(acme, "buyer")[:2] == (2, Decimal("0.30"))
    assert read_again(acme, later) == shown(acme)


# A random history scored by a sequence of passes (forward by hours to days, now and then back
# in time, with new events in between) in two programs holding the same events: one takes the
# stored values where valid, the other reads every event at every pass. Every pass must give
# the same score rows, transitions and snapshots.
TYPES = ["purchase", "purchase", "page_view", "session", "email_opened"]
event_st = st.tuples(
    st.integers(0, 7),  # customer
    st.sampled_from(TYPES),
    # hours before NOW (negative: after it); half of them within days of the lookback start,
    # so that later passes see purchases leave it
    st.one_of(st.integers(-20 * 24, 380 * 24), st.integers(355 * 24, 366 * 24)),
    st.one_of(st.none(), st.integers(0, 99999).map(lambda c: f"{c / 100:.2f}")),
)
pass_st = st.tuples(st.integers(-48, 24 * 40), st.lists(event_st, max_size=4))  # hours on, new events


def _add_events(programs, events):
    rows = []
    for n, type_, hours, value in events:
        for program, customers in programs:
            rows.append(
                Event(
                    program_id=program.id,
                    customer=customers[n],
                    event_id=f"lb-{next(_ids)}",
                    type=type_,
                    occurred_at=NOW - timedelta(hours=hours),
                    value=Decimal(value) if value and type_ == "purchase" else None,
                )
            )
    Event.objects.bulk_create(rows)
    EventKey.objects.bulk_create(EventKey(program_id=e.program_id, event_id=e.event_id) for e in rows)
    processing.process_events(sorted(e.id for e in rows))


def _state(program):
    transitions = ScoreTransition.objects.filter(program=program).values_list(
        "customer__external_id", "kind", "from_value", "to_value", "occurred_at"
    )
    columns = ["customer__external_id", "date", *SNAPSHOT_COLUMNS]
    snapshots = CustomerScoreSnapshot.objects.filter(program=program).values_list(*columns)
    return shown(program), sorted(transitions), sorted(snapshots)


def _stored_raw(program, now):
    """Each customer's stored raw score decayed to `now` (exact for a valid row at any later
    instant), and whether its weights_key is the program's."""
    rows = CustomerScore.objects.filter(program=program).values_list(
        "customer__external_id", "raw_score", "scored_at", "weights_key"
    )
    half_life, key = program.score_half_life_days, scoring.weights_key(program)
    decayed = {name: raw * 0.5 ** ((now - at).total_seconds() / 86400 / half_life) for name, raw, at, _ in rows}
    return decayed, {name: weights == key for name, _, _, weights in rows}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(event_st, min_size=5, max_size=40), passes=st.lists(pass_st, min_size=1, max_size=5))
@example(  # purchases that leave the lookback on each of three days, no new event in between
    history=[(n, "purchase", 364 * 24 + 8 * n, f"{n}.25") for n in range(8)] + [(0, "page_view", 24, None)],
    passes=[(24, []), (30, []), (24 * 400, [])],
)
def test_a_full_pass_from_the_stored_values_equals_one_reading_every_event(db, history, passes):
    fast, full = ProgramFactory(), ProgramFactory()
    programs = [(p, [person(p, f"c{n}") for n in range(8)]) for p in (fast, full)]
    _add_events(programs, history)
    now = NOW
    for hours, events in [(0, []), *passes]:
        now += timedelta(hours=hours)
        _add_events(programs, events)
        scoring.rescore_program(fast, now=now)
        CustomerScore.objects.filter(program=full).update(weights_key=0)
        scoring.rescore_program(full, now=now)
        assert _state(fast) == _state(full)
        (fast_raw, fast_keys), (full_raw, full_keys) = _stored_raw(fast, now), _stored_raw(full, now)
        assert fast_raw == pytest.approx(full_raw, rel=1e-12, abs=1e-300)
        assert fast_keys == full_keys == dict.fromkeys(full_keys, True)
