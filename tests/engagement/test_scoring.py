"""Scoring (METRICS.md section 9): exact scores, churn rule, transitions, incremental path,
historic snapshots and the rescore command, in-process on PostgreSQL."""

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from engagement import hooks, processing, scoring
from engagement.models import (
    Customer,
    CustomerScore,
    CustomerScoreSnapshot,
    Event,
    MetricSnapshot,
    ScoreTransition,
    ScoringQueueEntry,
)
from engagement.scoring.history import score_history

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def person(program, name):
    return Customer.objects.create(program=program, external_id=name)


def ev(customer, type_, days_ago, value=None, processed=True, **properties):
    """An event `days_ago` before NOW, through event processing unless `processed` is False."""
    event = Event.objects.create(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"s-{next(_ids)}",
        type=type_,
        occurred_at=NOW - timedelta(days=days_ago),
        value=Decimal(value) if value is not None else None,
        properties=properties,
    )
    if processed:
        processing.process_events([event.id])
        event.refresh_from_db()
    return event


def score_of(customer):
    return CustomerScore.objects.get(customer=customer)


def test_engagement_score_is_the_decayed_sum_ranked_within_the_program(acme):
    buyer, browser, idle = person(acme, "buyer"), person(acme, "browser"), person(acme, "idle")
    ev(buyer, "purchase", 30, "10.00", order_id="1")  # 10 × 0.5 (one half-life)
    ev(browser, "page_view", 1e-9, url="/")  # 0.2 (a moment ago)
    ev(browser, "custom.thing", 1e-9)  # no weight

    result = scoring.rescore_program(acme, now=NOW)

    assert result.customers == 3
    assert score_of(buyer).raw_score == pytest.approx(5.0)
    assert score_of(browser).raw_score == pytest.approx(0.2, abs=1e-9)
    assert [score_of(c).engagement_score for c in (idle, browser, buyer)] == [
        Decimal("0.00"),
        Decimal("50.00"),
        Decimal("100.00"),
    ]


def test_program_weights_and_half_life_are_used(acme):
    acme.score_weights, acme.score_half_life_days = {"page_view": 3}, 10
    acme.save()
    reader = person(acme, "reader")
    ev(reader, "page_view", 20, url="/")

    scoring.rescore_program(acme, now=NOW)

    assert score_of(reader).raw_score == pytest.approx(0.75)


def test_churn_risk_rule(acme):
    steady, gone, once, never = (person(acme, n) for n in ("steady", "gone", "once", "never"))
    for days in (30, 20, 10):  # median gap 10 days, last 10 days ago -> 10 / 20
        ev(steady, "page_view", days, url="/")
    for days in (10, 8, 6):  # median gap 2 days, last 6 days ago -> 6 / 4, clipped
        ev(gone, "page_view", days, url="/")
    ev(once, "page_view", 45, url="/")  # one event: 45 / churn_horizon_days (90)

    scoring.rescore_program(acme, now=NOW)

    assert [score_of(c).churn_risk for c in (steady, gone, once, never)] == [
        Decimal("0.500"),
        Decimal("1.000"),
        Decimal("0.500"),
        Decimal("1.000"),
    ]
    assert score_of(steady).median_gap_days == pytest.approx(10.0)


def test_customers_without_purchases_have_no_rfm_and_are_others(acme):
    browser = person(acme, "browser")
    ev(browser, "page_view", 1, url="/")
    old_buyer = person(acme, "old-buyer")
    ev(old_buyer, "purchase", 400, "10.00", order_id="1")  # outside the 365-day lookback

    scoring.rescore_program(acme, now=NOW)

    for customer in (browser, old_buyer):
        score = score_of(customer)
        assert (score.r_score, score.f_score, score.m_score, score.segment) == (None, None, None, "Others")


def test_transitions_are_recorded_and_handed_over_in_the_same_transaction(acme, monkeypatch):
    seen = []
    monkeypatch.setattr(
        hooks, "_transition_handlers", [lambda pid, ids: seen.append((pid, ids, connection.in_atomic_block))]
    )
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "purchase", 5, "10.00", order_id="1")
    ev(bob, "page_view", 5, url="/")

    first = scoring.rescore_program(acme, now=NOW)
    firsts = set(ScoreTransition.objects.values_list("customer__external_id", "kind", "from_value", "to_value"))
    again = scoring.rescore_program(acme, now=NOW)

    assert first.transitions == 6 and again.transitions == 0
    assert ("alice", "score", "", "100") in firsts
    assert ("alice", "segment", "", "Others") not in firsts  # one purchaser: R=F=M=1 -> Lost
    assert ("alice", "segment", "", "Lost") in firsts
    assert ("bob", "score", "", "0") in firsts and ("bob", "churn_risk", "", "0.0") in firsts
    assert seen == [(acme.pk, sorted(ScoreTransition.objects.values_list("id", flat=True)), True)]

    # bob overtakes alice: both move bands, bob becomes a purchaser (of 2: R=F=M=3) and his
    # median gap shrinks to 1 day (risk 1 / 2).
    for days in (3, 2, 1):
        ev(bob, "purchase", days, "50.00", order_id=f"b{days}")
    scoring.rescore_program(acme, now=NOW)

    latest = set(
        ScoreTransition.objects.filter(id__gt=max(seen[0][1])).values_list(
            "customer__external_id", "kind", "from_value", "to_value"
        )
    )
    assert latest == {
        ("alice", "score", "100", "0"),
        ("bob", "score", "0", "100"),
        ("bob", "segment", "Others", "Needs attention"),
        ("bob", "churn_risk", "0.0", "0.5"),
    }


def test_incremental_rescore_takes_queued_customers_only(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "page_view", 3, url="/")
    ev(bob, "page_view", 3, url="/")
    scoring.rescore_program(acme, now=NOW - timedelta(hours=1))
    bob_before = score_of(bob)
    ScoringQueueEntry.objects.all().delete()  # what their first events queued
    # A new purchase of alice goes through processing: the event handler queues her.
    new = ev(alice, "purchase", 0, "20.00", processed=False, order_id="9")
    processing.process_events([new.id])
    assert list(ScoringQueueEntry.objects.values_list("customer_id", flat=True)) == [alice.pk]

    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        assert scoring.rescore_queued(acme.pk) == 1

    assert ScoringQueueEntry.objects.count() == 0
    assert (score_of(alice).frequency, score_of(alice).engagement_score) == (1, Decimal("100.00"))
    assert score_of(bob).scored_at == bob_before.scored_at  # untouched
    assert scoring.rescore_queued(acme.pk) == 0


def test_historic_snapshot_ignores_later_events(acme):
    alice = person(acme, "alice")
    ev(alice, "purchase", 10, "10.00", order_id="1")
    ev(alice, "purchase", 0, "10.00", order_id="2")
    day = (NOW - timedelta(days=5)).date()

    scoring.snapshot_scores(acme, day)

    snapshot = CustomerScoreSnapshot.objects.get(customer=alice, date=day)
    assert (snapshot.segment, snapshot.monetary) == ("Lost", Decimal("10.00"))
    assert CustomerScore.objects.count() == 0 and ScoreTransition.objects.count() == 0


def test_rescore_command_rebuilds_a_date_range(acme, capsys):
    alice = person(acme, "alice")
    ev(alice, "purchase", 1, "10.00", order_id="1")

    call_command("rescore", "--program", "acme", "--start", "2025-05-01", "--end", "2025-05-03")

    assert sorted(CustomerScoreSnapshot.objects.values_list("date", flat=True))[:3] == [
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 3),
    ]
    assert set(MetricSnapshot.objects.values_list("date", flat=True)) == {
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 3),
    }
    assert CustomerScore.objects.filter(customer=alice).exists()
    assert "Scored 1 customers" in capsys.readouterr().out


def test_rows_whose_values_did_not_change_are_not_rewritten(acme):
    lapsed, active = person(acme, "lapsed"), person(acme, "active")
    ev(lapsed, "page_view", 200, url="/")  # churn risk clipped at 1 today and tomorrow
    ev(active, "page_view", 10, url="/")
    ev(active, "page_view", 5, url="/")  # median gap 5 days: the risk moves every day
    scoring.rescore_program(acme, now=NOW)
    later = NOW + timedelta(days=1)

    result = scoring.rescore_program(acme, now=later)

    assert result.customers == 2
    assert (score_of(lapsed).scored_at, score_of(lapsed).churn_risk) == (NOW, Decimal("1.000"))
    assert (score_of(active).scored_at, score_of(active).churn_risk) == (later, Decimal("0.600"))
    # Neither state changed (only the active one's risk, which follows from the stored state):
    # no snapshot row of the day, yet the history has the day's figures.
    assert CustomerScoreSnapshot.objects.filter(date=later.date()).count() == 0
    assert [(s.date, s.churn_risk) for s in score_history(active, 90)] == [
        (NOW.date(), Decimal("0.500")),
        (later.date(), Decimal("0.600")),
    ]


def test_a_stored_median_gap_is_reused_only_while_the_events_are_the_same(acme):
    steady = person(acme, "steady")
    for days in (30, 20, 10):
        ev(steady, "page_view", days, url="/")
    scoring.rescore_program(acme, now=NOW)
    assert score_of(steady).median_gap_days == pytest.approx(10.0)

    for days in (9, 8):  # gaps 10, 10, 1, 1 -> median 5.5
        ev(steady, "page_view", days, url="/")
    scoring.rescore_program(acme, now=NOW)

    assert score_of(steady).median_gap_days == pytest.approx(5.5)
    assert score_of(steady).churn_risk == Decimal("0.727")  # 8 / (2 × 5.5)


def test_a_later_pass_the_same_day_writes_only_changed_states(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "page_view", 10, url="/")
    ev(alice, "page_view", 5, url="/")
    ev(bob, "page_view", 200, url="/")
    scoring.rescore_program(acme, now=NOW)  # the day's first pass: plain insert
    first = {s.customer_id: s for s in CustomerScoreSnapshot.objects.all()}

    scoring.rescore_program(acme, now=NOW + timedelta(hours=2))  # same local day: upsert

    later = {s.customer_id: s for s in CustomerScoreSnapshot.objects.all()}
    assert set(later) == {alice.pk, bob.pk}
    assert {k: s.id for k, s in later.items()} == {k: s.id for k, s in first.items()}  # no new rows
    # The day's risk is the later pass's, from the row's state.
    assert (first[alice.pk].churn_risk, score_history(alice, 1)[0].churn_risk) == (Decimal("0.500"), Decimal("0.508"))
    assert score_history(bob, 1)[0].churn_risk == first[bob.pk].churn_risk == Decimal("1.000")


def test_deleting_a_customer_deletes_its_snapshots_without_a_database_constraint(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    # Unprocessed: processing would earn points, and a customer with a ledger is never deleted.
    ev(alice, "purchase", 1, "10.00", processed=False, order_id="1")
    ev(bob, "purchase", 2, "10.00", processed=False, order_id="2")
    scoring.rescore_program(acme, now=NOW)

    alice.delete()  # the ORM cascades (the snapshot foreign keys have db_constraint=False)

    assert list(CustomerScoreSnapshot.objects.values_list("customer_id", flat=True)) == [bob.pk]


# --- Which customers a pass reads again (PostgreSQL): stored values while the events are the same ---


def test_a_pass_reads_again_only_the_customers_whose_events_changed(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "purchase", 30, "10.00", order_id="1")
    moved = ev(bob, "purchase", 30, "10.00", order_id="2")
    scoring.rescore_program(acme, now=NOW)  # both raw 10 × ½ = 5.0
    # Events are append-only; changing one behind processing's back shows who is read again:
    # read again, bob's event would now weigh 0.2 × ¼ = 0.05.
    Event.objects.filter(pk=moved.pk).update(type="page_view")
    ev(alice, "page_view", 0, url="/")  # processed: alice's events changed
    later = NOW + timedelta(days=30)

    scoring.rescore_program(acme, now=later)

    assert score_of(bob).raw_score == pytest.approx(2.5)  # the stored 5.0, one half-life later
    assert score_of(alice).raw_score == pytest.approx(10 * 0.25 + 0.2 * 0.5)  # read again
    assert (score_of(alice).event_count, score_of(bob).event_count) == (2, 1)


def test_new_weights_read_every_customer_again(acme):
    reader = person(acme, "reader")
    ev(reader, "page_view", 1e-9, url="/")  # a moment ago
    scoring.rescore_program(acme, now=NOW)
    assert score_of(reader).raw_score == pytest.approx(0.2)
    acme.score_weights = {"page_view": 3}
    acme.save()

    scoring.rescore_program(acme, now=NOW)

    # Nothing shown changed (a lone customer ranks 0), yet the raw score is the new weights'.
    assert score_of(reader).raw_score == pytest.approx(3.0)
    assert score_of(reader).weights_key == scoring.weights_key(acme)


def test_unprocessed_and_later_events_are_read_from_the_events(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "page_view", 10, url="/")
    ev(bob, "page_view", 10, url="/")
    scoring.rescore_program(acme, now=NOW)
    ev(alice, "purchase", 1, "10.00", processed=False, order_id="1")  # not processed yet
    ev(bob, "purchase", -1, "10.00", order_id="2")  # processed, but after the pass's instant

    scoring.rescore_program(acme, now=NOW)

    assert (score_of(alice).event_count, score_of(alice).frequency) == (2, 1)
    assert (score_of(bob).event_count, score_of(bob).frequency) == (1, 0)
    assert score_of(bob).last_event_at == NOW - timedelta(days=10)


def test_equal_histories_rank_equal_whether_stored_or_read_again(acme):
    first, idle = person(acme, "first"), person(acme, "idle")
    ev(first, "page_view", 1, url="/")
    scoring.rescore_program(acme, now=NOW)
    second = person(acme, "second")
    ev(second, "page_view", 1, url="/")  # the same event as first's, scored fresh below

    # first's raw score is the stored one decayed by 0.37 days, second's is summed from the
    # event: the same number, up to float rounding in the last bit.
    scoring.rescore_program(acme, now=NOW + timedelta(days=0.37))

    assert [score_of(c).engagement_score for c in (idle, first, second)] == [
        Decimal("0.00"),
        Decimal("50.00"),
        Decimal("50.00"),
    ]


def test_stored_values_give_the_figures_of_reading_every_event(acme):
    rng = random.Random(7)
    people = [person(acme, f"p{n}") for n in range(40)]
    types = ["page_view", "session", "purchase", "email_opened", "social_share", "custom.thing"]

    def some_events(days):
        for customer in rng.sample(people, 25):
            for _ in range(rng.randrange(1, 4)):
                type_ = rng.choice(types)
                value = f"{rng.randrange(100, 9000) / 100:.2f}" if type_ == "purchase" else None
                ev(customer, type_, rng.uniform(*days), value, order_id="o")

    some_events((100, 400))
    scoring.rescore_program(acme, now=NOW)
    some_events((0, 100))  # new events for some: the others keep their stored values
    later = NOW + timedelta(days=3.3)
    scoring.rescore_program(acme, now=later)
    shown = ["customer_id", *scoring.SHOWN]
    reused = sorted(CustomerScore.objects.values_list(*shown))
    CustomerScore.objects.update(weights_key=0)  # every stored raw score invalid: read it all

    result = scoring.rescore_program(acme, now=later)

    assert result.transitions == 0
    assert sorted(CustomerScore.objects.values_list(*shown)) == reused


def test_incremental_passes_during_an_import_give_what_a_full_pass_gives(acme):
    # Given a history of 600 events of 40 customers imported in 12 batches, each processed
    # (which queues its customers) and followed by the incremental re-score, at one instant
    rng = random.Random(8)
    people = [person(acme, f"c{i}") for i in range(40)]
    types = ["purchase", "page_view", "session", "email_opened", "survey_answered"]
    events = [
        Event(
            program=acme,
            customer=rng.choice(people),
            event_id=f"imp-{n}",
            type=(kind := rng.choice(types)),
            occurred_at=NOW - timedelta(days=rng.uniform(0, 400)),
            value=Decimal(rng.randint(1, 300)) if kind == "purchase" else None,
        )
        for n in range(600)
    ]
    with time_machine.travel(NOW, tick=False):
        for batch in (events[i : i + 50] for i in range(0, len(events), 50)):
            Event.objects.bulk_create(batch)
            processing.process_events([e.id for e in batch])
            while scoring.rescore_queued(acme.pk):
                pass
        stored = {s.customer_id: s for s in CustomerScore.objects.all()}
        transitions = ScoreTransition.objects.count()

        # When a full pass runs at the same instant
        scoring.rescore_program(acme)

    # Then it changes no score and records no transition
    after = {s.customer_id: s for s in CustomerScore.objects.all()}
    shown = [*scoring.SHOWN, "scored_at"]
    assert {c: [getattr(s, f) for f in shown] for c, s in after.items()} == {
        c: [getattr(s, f) for f in shown] for c, s in stored.items()
    }
    assert len(after) == 40 and ScoreTransition.objects.count() == transitions


def _score_row_versions():
    """customer id -> the xmin of its score row: changes exactly when the row is written."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT customer_id, xmin::text FROM {CustomerScore._meta.db_table}")
        return dict(cursor.fetchall())


def test_a_nightly_pass_writes_only_the_score_rows_whose_values_changed(acme):
    old, older, recent = person(acme, "old"), person(acme, "older"), person(acme, "recent")
    ev(older, "page_view", 300, url="/")
    ev(old, "page_view", 280, url="/")
    ev(recent, "page_view", 250, url="/")  # ranks 0, 50, 100; one event each: risk 1 (clipped)
    scoring.rescore_program(acme, now=NOW)
    before = _score_row_versions()
    later = NOW + timedelta(days=1)

    nothing = scoring.rescore_program(acme, now=later)  # raw scores decay, nothing shown moves

    assert (nothing.customers, nothing.transitions, nothing.scores_written) == (3, 0, 0)
    assert _score_row_versions() == before
    assert CustomerScoreSnapshot.objects.filter(date=later.date()).count() == 0

    ev(recent, "page_view", 0, url="/")  # gap 250 days: risk 1 / 500 a day later
    changed = scoring.rescore_program(acme, now=later)

    after = _score_row_versions()
    assert {c for c in after if after[c] != before[c]} == {recent.pk}
    score = score_of(recent)
    assert (score.engagement_score, score.segment, score.churn_risk) == (Decimal("100.00"), "Others", Decimal("0.002"))
    assert (score.event_count, score.last_event_at, score.median_gap_days) == (2, NOW, pytest.approx(250.0))
    assert (score.churn_divisor, score.scored_at) == (pytest.approx(500.0), later)
    assert [score_of(c).engagement_score for c in (older, old)] == [Decimal("0.00"), Decimal("50.00")]
    assert (changed.transitions, changed.scores_written) == (1, 1)
    assert list(
        ScoreTransition.objects.filter(occurred_at__gte=later).values_list("customer", "kind", "from_value", "to_value")
    ) == [(recent.pk, "churn_risk", "1.0", "0.0")]


def test_churn_bands_move_at_their_edges_only(acme):
    """The transitions compare bands by truncating the exact values: 0.300 is in band 0.3,
    0.299 in band 0.2, 1.000 in band 1.0."""
    edge = person(acme, "edge")
    for days in (100, 50):  # one gap of 50 days: divisor 100, risk = days since / 100
        ev(edge, "page_view", days, url="/")
    risks = []
    for after_last in (29.9, 30, 39.9, 40, 100):
        scoring.rescore_program(acme, now=NOW - timedelta(days=50) + timedelta(days=after_last))
        risks.append(str(score_of(edge).churn_risk))
    moves = ScoreTransition.objects.filter(kind="churn_risk").order_by("id").values_list("from_value", "to_value")

    assert risks == ["0.299", "0.300", "0.399", "0.400", "1.000"]
    assert list(moves) == [("", "0.2"), ("0.2", "0.3"), ("0.3", "0.4"), ("0.4", "1.0")]


def test_a_pass_counts_and_writes_only_its_own_programs_customers(acme, globex):
    # Given two customers of acme, one with an event, and one scored customer of globex
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "page_view", 1, url="/")
    carol = person(globex, "carol")
    scoring.rescore_program(globex, now=NOW)
    carol_before = score_of(carol)

    # When acme is scored, then again as of a day later (only alice's churn risk drifts)
    first = scoring.rescore_program(acme, now=NOW)
    nightly = scoring.rescore_program(acme, now=NOW + timedelta(days=1))

    # Then each pass counts acme's two customers, and globex's row is untouched
    assert (first.customers, first.scores_written) == (2, 2)
    assert (nightly.customers, nightly.scores_written) == (2, 1)
    assert (score_of(alice).churn_risk, score_of(bob).churn_risk) == (Decimal("0.022"), Decimal("1.000"))
    assert score_of(carol).updated_at == carol_before.updated_at
    assert CustomerScore.objects.filter(program=globex).count() == 1


def test_purchases_leaving_the_lookback_are_taken_off_the_stored_rfm_inputs(acme):
    """A pass as of a later instant takes the stored RFM inputs minus the purchases that left
    the lookback since each row's pass; reading every customer again gives the same figures."""
    both, one, kept = person(acme, "both"), person(acme, "one"), person(acme, "kept")
    ev(both, "purchase", 364.6, "10.00")
    ev(both, "purchase", 364.2, "20.25")
    ev(both, "purchase", 100, "5.50")
    ev(one, "purchase", 364.7, "7.00")
    ev(one, "page_view", 10)
    ev(kept, "purchase", 30, "3.00")
    scoring.rescore_program(acme, now=NOW)
    rfm = ["frequency", "monetary", "last_purchase_at", "r_score", "f_score", "m_score", "segment"]

    def figures():
        return {c.external_id: tuple(getattr(score_of(c), f) for f in rfm) for c in (both, one, kept)}

    assert figures()["both"][:2] == (3, Decimal("35.75"))
    scoring.rescore_program(acme, now=NOW + timedelta(days=0.5))  # both's first and one's only left
    half_day = figures()
    assert half_day == {
        "both": (2, Decimal("25.75"), NOW - timedelta(days=100), 1, 3, 3, "At risk"),
        "one": (0, Decimal("0.00"), None, None, None, None, "Others"),
        "kept": (1, Decimal("3.00"), NOW - timedelta(days=30), 3, 1, 1, "Others"),
    }
    later = NOW + timedelta(days=1)
    scoring.rescore_program(acme, now=later)  # both's second left too
    stored = figures()
    assert stored["both"][:3] == (1, Decimal("5.50"), NOW - timedelta(days=100))
    snapshots = sorted(CustomerScoreSnapshot.objects.values_list("customer_id", "date", "monetary", "segment"))
    CustomerScore.objects.update(weights_key=0)  # every customer read again from the events

    assert scoring.rescore_program(acme, now=later).transitions == 0
    assert figures() == stored
    assert sorted(CustomerScoreSnapshot.objects.values_list("customer_id", "date", "monetary", "segment")) == snapshots

    scoring.rescore_program(acme, now=NOW)  # back in time: the purchases are in the lookback again
    assert figures()["both"][:3] == (3, Decimal("35.75"), NOW - timedelta(days=100))
