"""The score history written only on change (engagement.scoring.history): a customer whose
state did not change gets no new snapshot row, and the history still answers, day by day,
exactly what a row per customer per day held (their scores as of the day's last pass)."""

from datetime import timedelta
from decimal import Decimal

from engagement import scoring
from engagement.models import CustomerScore, CustomerScoreSnapshot, ScoreSnapshotDay
from engagement.scoring.history import score_history
from tests.engagement.test_scoring import NOW, ev, person

FIELDS = ("engagement_score", "r_score", "f_score", "m_score", "segment", "churn_risk", "monetary")


def shown(row):
    return tuple(getattr(row, f) for f in FIELDS)


def history_of(customer):
    return {s.date: shown(s) for s in score_history(customer, 90)}


def current(program):
    """What a row per customer per day would hold after this pass: the stored score rows."""
    return {s.customer_id: shown(s) for s in CustomerScore.objects.filter(program=program)}


def test_unchanged_customers_get_no_row_and_the_history_gives_each_days_figures(acme):
    lapsed, active, buyer = person(acme, "lapsed"), person(acme, "active"), person(acme, "buyer")
    ev(lapsed, "page_view", 200, url="/")  # churn risk clipped at 1 on every day
    ev(active, "page_view", 10, url="/")
    ev(active, "page_view", 5, url="/")  # median gap 5 days: the risk moves every day
    ev(buyer, "purchase", 3, "25.00", order_id="1")
    expected = {c.pk: {} for c in (lapsed, active, buyer)}

    for n in range(4):
        at = NOW + timedelta(days=n)
        if n == 2:  # a new event: the buyer's state (last event, divisor) changes that day
            ev(buyer, "page_view", -1.5, url="/")
        scoring.rescore_program(acme, now=at)
        for customer_id, values in current(acme).items():
            expected[customer_id][scoring.local_date(acme, at)] = values
        if n == 0:  # a later pass the same day: that day's figures are the later pass's
            scoring.rescore_program(acme, now=at + timedelta(hours=2))
            for customer_id, values in current(acme).items():
                expected[customer_id][scoring.local_date(acme, at)] = values

    for customer in (lapsed, active, buyer):
        assert history_of(customer) == expected[customer.pk]
    day0, day1 = scoring.local_date(acme, NOW), scoring.local_date(acme, NOW + timedelta(days=1))
    assert [expected[active.pk][day][5] for day in (day0, day1)] == [Decimal("0.508"), Decimal("0.600")]
    # One row each on the first day, then a row only for the buyer's new event.
    rows = sorted(CustomerScoreSnapshot.objects.values_list("customer_id", "date"))
    day2 = scoring.local_date(acme, NOW + timedelta(days=2))
    assert rows == sorted([(lapsed.pk, day0), (active.pk, day0), (buyer.pk, day0), (buyer.pk, day2)])
    assert ScoreSnapshotDay.objects.filter(program=acme, live=True).count() == 4


def test_a_rebuilt_past_day_keeps_the_later_days_figures(acme):
    alice, bob = person(acme, "alice"), person(acme, "bob")
    ev(alice, "purchase", 40, "10.00", order_id="1")
    ev(alice, "page_view", 20, url="/")
    ev(bob, "page_view", 30, url="/")
    ev(bob, "page_view", 1, url="/")
    days = [NOW - timedelta(days=3), NOW]
    for at in days:
        scoring.rescore_program(acme, now=at)
    before = {c.pk: history_of(c) for c in (alice, bob)}
    rebuilt = scoring.local_date(acme, NOW - timedelta(days=10))

    scoring.snapshot_scores(acme, rebuilt)  # before every event but alice's purchase
    scoring.snapshot_scores(acme, scoring.local_date(acme, days[0]))  # a day that had a pass

    for customer in (alice, bob):
        after = history_of(customer)
        later = {day: values for day, values in after.items() if day > scoring.local_date(acme, days[0])}
        assert later == {day: v for day, v in before[customer.pk].items() if day > scoring.local_date(acme, days[0])}
    # The rebuilt day: alice's one purchase (the only buyer: R = F = M = 1), bob's one event.
    assert history_of(alice)[rebuilt][4] == "Lost"
    assert history_of(bob)[rebuilt][4:6] == ("Others", Decimal("0.224"))  # 20 days 4 h (to the day's end, UTC+8) / 90


def test_the_first_live_pass_after_a_rebuilt_latest_day_writes_everyone(acme):
    alice = person(acme, "alice")
    ev(alice, "page_view", 20, url="/")
    ev(alice, "page_view", 10, url="/")
    scoring.rescore_program(acme, now=NOW - timedelta(days=5))
    yesterday = scoring.local_date(acme, NOW - timedelta(days=1))
    ev(alice, "page_view", 0.5, url="/")  # after yesterday's end
    scoring.snapshot_scores(acme, yesterday)

    scoring.rescore_program(acme, now=NOW)

    today = scoring.local_date(acme, NOW)
    assert CustomerScoreSnapshot.objects.filter(customer=alice, date=today).exists()
    assert history_of(alice)[today] == current(acme)[alice.pk]
