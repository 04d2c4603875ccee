"""Metrics computed together share passes (engagement.metrics.base.Ctx.once): the values must
be exactly those of each metric computed alone. And the demo's scoring step fits the purchase
models and builds no metric snapshots (nothing shows them)."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from engagement import hooks, metrics
from engagement.demo_scores import load_scores
from engagement.models import Customer, CustomerScore, Event, MetricSnapshot, PurchaseModelFit
from engagement.processing import process_events

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
_ids = itertools.count()


def ev(customer, type_, days, value=None, **properties):
    return Event(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"sh-{next(_ids)}",
        type=type_,
        occurred_at=START + timedelta(days=days),
        value=Decimal(value) if value is not None else None,
        properties=properties,
    )


def mixed_history(program):
    """A bit of every family: activity before and in the period, purchases (some recurring),
    sessions, email, surveys, referrals, shares."""
    people = Customer.objects.bulk_create([Customer(program=program, external_id=f"m-{i}") for i in range(6)])
    a, b, c, d, e, f = people
    events = [
        ev(a, "page_view", -40, url="/"),
        ev(a, "purchase", 2, "30.00", recurring=True),
        ev(a, "purchase", 12, "20.00"),
        ev(b, "page_view", -20, url="/"),
        ev(c, "purchase", 5, "15.50", recurring=True),
        ev(c, "session", 5, duration_seconds=120, page_views=1, exit_page="/"),
        ev(c, "session", 6, duration_seconds=30, page_views=3),
        ev(d, "email_sent", 1, message_id="m1"),
        ev(d, "email_opened", 2, message_id="m1"),
        ev(d, "email_clicked", 2, message_id="m1"),
        ev(d, "email_converted", 3, message_id="m1"),
        ev(e, "email_sent", 1, message_id="m1"),
        ev(e, "email_bounced", 1, message_id="m1"),
        ev(d, "survey_answered", 4, kind="nps", score=9),
        ev(d, "survey_answered", 8, kind="nps", score=6),
        ev(e, "survey_answered", 4, kind="csat", score=5),
        ev(f, "survey_answered", 4, kind="ces", score=6),
        ev(e, "referral_sent", 3),
        ev(e, "referral_converted", 9, referred_customer="m-5"),
        ev(e, "social_share", 9, network="x"),
        ev(f, "purchase", 20, "40.00"),
    ]
    Event.objects.bulk_create(events)
    CustomerScore.objects.create(customer=a, program=program, segment="Champions", scored_at=START)
    return people


@pytest.mark.parametrize("processed", [False, True], ids=["unprocessed", "processed"])
def test_all_metrics_at_once_equal_each_metric_alone(acme, processed):
    mixed_history(acme)
    if processed:  # section 6 counts then come from the customers' first and last seen times
        process_events(list(Event.objects.filter(program=acme).values_list("id", flat=True)))
    names = metrics.metric_names()

    for segment in (None, "Champions"):
        together = metrics.compute_metrics(acme, names, START, END, segment)
        alone = {name: metrics.compute_metrics(acme, [name], START, END, segment)[name] for name in names}

        assert {n: metrics.format_metric(n, v) for n, v in together.items()} == {
            n: metrics.format_metric(n, v) for n, v in alone.items()
        }
    assert metrics.format_metric("churn_rate", together["churn_rate"])["denominator"] == 1  # only a is Champion


def test_the_demo_scores_and_fits_the_purchase_models_once_and_builds_no_metric_snapshots(acme):
    steps = {fn: order for order, _, fn in hooks.demo_steps()}
    assert steps[load_scores] == 10
    assert not [name for _, name, _ in hooks.demo_steps() if "metric snapshot" in name]
    people = Customer.objects.bulk_create([Customer(program=acme, external_id=f"f-{i}") for i in range(4)])
    Event.objects.bulk_create(
        [
            ev(c, "purchase", -7 * k - i, "12.00", order_id=f"{i}-{k}")
            for i, c in enumerate(people)
            for k in range(i + 1)
        ]
    )
    process_events(list(Event.objects.filter(program=acme).values_list("id", flat=True)))

    with time_machine.travel(END, tick=False):
        load_scores(acme, lambda **kwargs: _NoBar())
        fits = sorted(PurchaseModelFit.objects.filter(program=acme).values_list("id", "kind"))
        load_scores(acme, lambda **kwargs: _NoBar())  # a rerun fits nothing again

    assert [kind for _, kind in fits] == ["bgnbd", "gamma_gamma"]
    assert sorted(PurchaseModelFit.objects.filter(program=acme).values_list("id", "kind")) == fits
    assert CustomerScore.objects.filter(program=acme).count() == 4
    assert MetricSnapshot.objects.count() == 0


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass
