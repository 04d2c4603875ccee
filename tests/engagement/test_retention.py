"""Retention of raw events (engagement.retention): the months before the cutoff are rolled up
per customer and dropped, and every score, purchase-model input and metric of a period after
the cutoff is exactly what it was; periods before it are refused; dedup keys stay."""

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from engagement import partitions, processing, purchase_models, retention, scoring
from engagement.beat import SCHEDULE
from engagement.erasure import erase_customer
from engagement.metrics import compute_metrics, metric_names
from engagement.metrics.base import Ctx
from engagement.metrics.customers import activity_from_aggregates, activity_from_events
from engagement.models import Customer, CustomerEventRollup, CustomerScore, Event, EventKey, EventRetention

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
MONTHS = 28
CUTOFF = datetime(2023, 2, 1, tzinfo=UTC)  # June 2025 − 28 months
HISTORY_START = datetime(2022, 1, 1, tzinfo=UTC)
TYPES = ["page_view", "session", "social_share", "email_sent", "email_opened", "survey_answered", "purchase"]
_ids = itertools.count()


def event(customer, type_, at, value=None, **properties):
    return Event(
        program_id=customer.program_id,
        customer=customer,
        event_id=f"r-{next(_ids)}",
        type=type_,
        occurred_at=at,
        value=Decimal(value) if value is not None else None,
        properties=properties,
    )


def build_history(program, seed=5):
    """Twelve customers with random events from January 2022 to June 2025 (every type the
    scores weigh, purchases with values, sessions, survey answers, e-mails clicked long before
    their conversion, referrals converted before the cutoff), processed, in monthly partitions;
    one customer also has an unprocessed old event and one an unprocessed recent one."""
    rng = random.Random(seed)
    customers = [Customer.objects.create(program=program, external_id=f"c{i}") for i in range(12)]
    events = []
    span = (NOW - timedelta(days=2) - HISTORY_START).total_seconds()
    for customer in customers[:10]:
        for _ in range(rng.randint(5, 40)):
            at = HISTORY_START + timedelta(seconds=rng.uniform(0, span))
            type_ = rng.choice(TYPES)
            if type_ == "purchase":
                events.append(event(customer, type_, at, f"{rng.uniform(5, 200):.2f}", recurring=rng.random() < 0.3))
            elif type_ == "session":
                events.append(
                    event(customer, type_, at, duration_seconds=rng.randint(5, 900), page_views=rng.randint(1, 3))
                )
            elif type_ == "survey_answered":
                events.append(event(customer, type_, at, kind="nps", score=rng.randint(0, 10)))
            else:
                events.append(event(customer, type_, at, message_id="m1"))
    # Only events before the cutoff: everything of c10 is rolled up (a customer "not new").
    events += [
        event(customers[10], "page_view", datetime(2022, 5, 3, tzinfo=UTC)),
        event(customers[10], "purchase", datetime(2022, 6, 3, tzinfo=UTC), "40.00"),
    ]
    # c0 clicked message m9 in 2022 and converts in 2024; c1 referred c11 in 2022, who buys in 2024.
    events += [
        event(customers[0], "email_clicked", datetime(2022, 3, 1, tzinfo=UTC), message_id="m9"),
        event(customers[0], "email_sent", datetime(2024, 3, 1, tzinfo=UTC), message_id="m9"),
        event(customers[0], "email_converted", datetime(2024, 3, 2, tzinfo=UTC), message_id="m9"),
        event(customers[1], "referral_converted", datetime(2022, 4, 1, tzinfo=UTC), referred_customer="c11"),
        event(customers[11], "purchase", datetime(2024, 3, 5, tzinfo=UTC), "75.00"),
        event(customers[11], "purchase", datetime(2024, 8, 5, tzinfo=UTC), "25.00"),
    ]
    Event.objects.bulk_create(events)
    EventKey.objects.bulk_create(EventKey(program_id=program.pk, event_id=e.event_id) for e in events)
    processing.process_events(sorted(e.id for e in events))
    # Left unprocessed: one before the cutoff (must stay), one recent (an exception for metrics).
    Event.objects.bulk_create(
        [
            event(customers[2], "page_view", datetime(2022, 7, 7, tzinfo=UTC)),
            event(customers[3], "page_view", datetime(2025, 6, 1, tzinfo=UTC)),
        ]
    )
    partitions.ensure_event_partitions(now=NOW, ahead=1)
    return customers


SCORE_FIELDS = [
    "engagement_score",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "churn_risk",
    "event_count",
    "last_event_at",
    "last_purchase_at",
    "frequency",
    "monetary",
    "median_gap_days",
    "churn_divisor",
    "raw_score",
]


def scores(program):
    """Every customer's scores, computed from the events alone (no stored row reused)."""
    CustomerScore.objects.filter(program=program).delete()
    scoring.rescore_program(program, now=NOW)
    return {
        row["customer__external_id"]: row
        for row in CustomerScore.objects.filter(program=program).values("customer__external_id", *SCORE_FIELDS)
    }


def without_raw(rows):
    return {k: {f: v for f, v in row.items() if f != "raw_score"} for k, row in rows.items()}


def raw(rows):
    return {k: row["raw_score"] for k, row in rows.items()}


def model_inputs(program):
    summary = purchase_models.purchase_summary(program, date(2025, 6, 15))
    as_lists = {name: getattr(summary, name).tolist() for name in summary.__dataclass_fields__}
    return as_lists, purchase_models.holdout_transactions(program, date(2024, 12, 15), date(2025, 6, 15))


PERIODS = [
    (datetime(2023, 6, 1, tzinfo=UTC), datetime(2023, 7, 1, tzinfo=UTC)),  # the first month allowed (90-day lookback)
    (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    (datetime(2025, 5, 16, tzinfo=UTC), NOW),
]


def all_metrics(program):
    values = {period: compute_metrics(program, metric_names(), *period) for period in PERIODS}
    values["m9"] = compute_metrics(program, ["email_conversion_rate"], *PERIODS[1], message_id="m9")
    for period in PERIODS:  # both ways to the customer activity, whichever compute_metrics took
        ctx = Ctx(program, *period)
        values[("activity", period)] = (activity_from_events(ctx), activity_from_aggregates(ctx))
    return values


def partition_names():
    with connection.cursor() as cursor:
        return sorted(partitions.existing_partitions(cursor))


def test_scores_models_and_metrics_are_the_same_after_the_drop(acme):
    # Given three and a half years of history in monthly partitions, and every figure of it
    build_history(acme)
    before_scores, before_models, before_metrics = scores(acme), model_inputs(acme), all_metrics(acme)
    old_months = [n for n in partition_names() if "_y2022" in n or n.endswith("y2023m01")]
    assert len(old_months) == 13  # January 2022 – January 2023

    # When retention keeps 28 months before June 2025
    result = retention.apply_retention(now=NOW, months=MONTHS)

    # Then the months before February 2023 are gone, their events rolled up, and nothing else
    assert result["cutoff"] == CUTOFF and result["failed"] == []
    # (July 2022 holds an event not processed yet: it stays, and so does its partition)
    assert result["dropped"] == [n for n in old_months if n != "engagement_event_y2022m07"]
    assert set(partition_names()) & set(old_months) == {"engagement_event_y2022m07"}
    assert {"engagement_event_default", "engagement_event_y2023m02", "engagement_event_y2025m06"} <= set(
        partition_names()
    )
    assert list(
        Event.objects.filter(program=acme, occurred_at__lt=CUTOFF).values_list("customer__external_id", "processed_at")
    ) == [("c2", None)]
    assert EventRetention.objects.get(program=acme).retained_from == CUTOFF
    c10 = CustomerEventRollup.objects.get(customer__external_id="c10")
    assert (c10.event_count, c10.types, c10.amounts) == (2, ["page_view", "purchase"], [None, Decimal("40.00")])
    assert CustomerEventRollup.objects.get(customer__external_id="c1").referred_customers == ["c11"]
    assert "m9" in CustomerEventRollup.objects.get(customer__external_id="c0").clicked_messages
    # ... and every score, model input and metric after the cutoff is exactly what it was
    after_scores = scores(acme)
    assert without_raw(after_scores) == without_raw(before_scores)
    # The stored raw score is a float sum, whose last bit depends on the order PostgreSQL adds
    # the events in (their physical order, before as after); it is ranked rounded to 40 bits.
    assert raw(after_scores) == pytest.approx(raw(before_scores), rel=1e-12)
    assert model_inputs(acme) == before_models
    assert all_metrics(acme) == before_metrics
    assert before_metrics["m9"]["email_conversion_rate"].numerator == 1  # the 2022 click still counts
    assert before_metrics[PERIODS[1]]["advocacy_revenue"].value == Decimal("100.00")  # c11, referred in 2022


def test_the_old_partition_stays_until_its_unprocessed_event_is_processed(acme):
    build_history(acme)
    first = retention.apply_retention(now=NOW, months=MONTHS)
    assert "engagement_event_y2022m07" not in first["dropped"]

    leftover = Event.objects.get(program=acme, occurred_at__lt=CUTOFF)
    processing.process_events([leftover.id])
    # The test is one transaction: fire the deferred foreign-key checks of that update now,
    # as a commit would (PostgreSQL refuses to drop a table with pending trigger events).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    second = retention.apply_retention(now=NOW, months=MONTHS)

    assert second["dropped"] == ["engagement_event_y2022m07"] and second["rollups_written"] == 1
    rollup = CustomerEventRollup.objects.get(customer__external_id="c2")
    assert rollup.times == sorted(rollup.times) and datetime(2022, 7, 7, tzinfo=UTC) in rollup.times
    assert rollup.event_count == len(rollup.times) == len(rollup.types) == len(rollup.amounts)


def rollups(program):
    return list(CustomerEventRollup.objects.filter(program=program).order_by("pk").values())


def test_running_retention_again_changes_nothing(acme):
    build_history(acme)
    Event.objects.filter(program=acme, processed_at__isnull=True).update(processed_at=NOW)  # all droppable
    retention.apply_retention(now=NOW, months=MONTHS)
    state = (rollups(acme), partition_names(), list(EventRetention.objects.values()), Event.objects.count())

    again = retention.apply_retention(now=NOW + timedelta(days=1), months=MONTHS)

    assert again == {"cutoff": CUTOFF, "rollups_written": 0, "failed": [], "dropped": []}
    assert (rollups(acme), partition_names(), list(EventRetention.objects.values()), Event.objects.count()) == state


def test_nothing_happens_while_the_setting_is_unset(acme, settings):
    build_history(acme)
    settings.EVENTS_RETENTION_MONTHS = None
    count, names = Event.objects.count(), partition_names()

    assert retention.apply_retention(now=NOW) == {"cutoff": None, "rollups_written": 0, "failed": [], "dropped": []}
    assert (Event.objects.count(), partition_names(), CustomerEventRollup.objects.count()) == (count, names, 0)


def test_a_dropped_event_id_is_still_a_duplicate(acme, acme_api):
    # Given an event of January 2023 accepted, processed and then dropped by retention
    response = acme_api.post(
        "/api/v1/events",
        {
            "event_id": "old-1",
            "type": "page_view",
            "customer": "alice",
            "occurred_at": "2023-01-10T10:00:00Z",
            "properties": {"url": "/"},
        },
        format="json",
    )
    assert response.json() == {"accepted": 1, "duplicates": 0}
    processing.process_events(list(Event.objects.filter(event_id="old-1").values_list("id", flat=True)))
    retention.apply_retention(now=NOW, months=MONTHS)
    assert not Event.objects.filter(event_id="old-1").exists()

    # When the partner sends it again, with a time after the cutoff
    again = acme_api.post(
        "/api/v1/events",
        {
            "event_id": "old-1",
            "type": "page_view",
            "customer": "alice",
            "occurred_at": "2025-06-10T10:00:00Z",
            "properties": {"url": "/"},
        },
        format="json",
    )

    # Then it is refused as a duplicate and nothing is stored
    assert again.json() == {"accepted": 0, "duplicates": 1}
    assert not Event.objects.filter(event_id="old-1").exists()
    assert CustomerEventRollup.objects.get(customer__external_id="alice").types == ["page_view"]


def test_a_period_before_the_cutoff_is_refused(acme, acme_api):
    build_history(acme)
    retention.apply_retention(now=NOW, months=MONTHS)

    # A period starting before the cutoff; churn whose 90-day lookback reaches before it
    with pytest.raises(retention.EventsNotRetained) as early:
        compute_metrics(acme, ["nps"], datetime(2023, 1, 15, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC))
    with pytest.raises(retention.EventsNotRetained) as lookback:
        compute_metrics(
            acme, ["page_views", "churn_rate"], datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)
        )
    response = acme_api.get(
        "/api/v1/metrics", {"names": "nps", "start": "2023-01-01T00:00:00Z", "end": "2023-06-01T00:00:00Z"}
    )

    assert str(early.value.message) == (
        "Events before 2023-02-01T00:00:00+00:00 are no longer kept (EVENTS_RETENTION_MONTHS): a period must start "
        "on or after 2023-02-01T00:00:00+00:00 for these metrics."
    )
    assert "start on or after 2023-05-02T00:00:00+00:00" in str(lookback.value.message)
    assert response.status_code == 400
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "period_before_retention", "detail": str(early.value.message), "attr": "start"}],
    }
    # Without the churn metrics the same period is answered; so are metrics that other apps
    # provide from their own data (the ledger), whatever the period
    assert compute_metrics(acme, ["page_views"], datetime(2023, 5, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC))
    old_points = compute_metrics(
        acme, ["points_issued"], datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 2, 1, tzinfo=UTC)
    )
    assert old_points["points_issued"].value == 0


def test_erasure_keeps_the_rollup_like_the_events_type_time_and_value(acme):
    # docs/privacy.md: an erased customer's events (type, time, value) stay; so does what
    # retention rolled up of them, which holds nothing else of theirs.
    customers = build_history(acme)
    retention.apply_retention(now=NOW, months=MONTHS)
    before = scores(acme)
    rollup = list(CustomerEventRollup.objects.filter(customer=customers[10]).values())

    erase_customer(customers[10])

    assert list(CustomerEventRollup.objects.filter(customer=customers[10]).values()) == rollup
    assert without_raw(scores(acme)) == without_raw(before)


def test_the_command_the_task_and_the_setting(acme, settings):
    build_history(acme)
    with pytest.raises(CommandError, match="at least 28"):
        call_command("apply_retention", "--months", "27")
    settings.EVENTS_RETENTION_MONTHS = None
    with pytest.raises(CommandError, match="not set"):
        call_command("apply_retention")
    assert SCHEDULE["engagement-apply-event-retention"]["task"] == "engagement.tasks.apply_event_retention_task"
    # The command applies "now": an instant that drops nothing of this 2022–2025 history yet
    # only if its months are recent; the history's old months are before any 28-month cutoff.
    call_command("apply_retention", "--months", "28")
    assert not Event.objects.filter(program=acme, occurred_at__lt=CUTOFF, processed_at__isnull=False).exists()


def test_one_programs_failure_leaves_the_others_done(acme, globex):
    # Given both programs with events in 2022, and globex's rollup refused by the database
    # (a trigger stands in for any failure of that program's transaction)
    build_history(acme)
    Event.objects.filter(program=acme, processed_at__isnull=True).update(processed_at=NOW)
    gx = Customer.objects.create(program=globex, external_id="gx")
    old = event(gx, "page_view", datetime(2022, 2, 2, tzinfo=UTC))
    old.processed_at = NOW
    old.save()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE FUNCTION refuse_globex() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused'; END $$;
            CREATE TRIGGER refuse_globex BEFORE INSERT ON engagement_customereventrollup
                FOR EACH ROW WHEN (NEW.program_id = {globex.pk}) EXECUTE FUNCTION refuse_globex();
            SET CONSTRAINTS ALL IMMEDIATE"""
        )

    # When retention runs
    result = retention.apply_retention(now=NOW, months=MONTHS)

    # Then acme's old events are rolled up and gone, globex's are all still there, and only
    # February 2022 (globex's row) keeps its partition
    assert result["failed"] == [globex.pk]
    assert not Event.objects.filter(program=acme, occurred_at__lt=CUTOFF).exists()
    assert list(Event.objects.filter(occurred_at__lt=CUTOFF).values_list("pk", flat=True)) == [old.pk]
    assert not CustomerEventRollup.objects.filter(program=globex).exists()
    assert not EventRetention.objects.filter(program=globex).exists()
    assert "engagement_event_y2022m02" not in result["dropped"] and len(result["dropped"]) == 12

    # And once the failure is gone, the next run completes globex and drops the last month
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_globex ON engagement_customereventrollup; SET CONSTRAINTS ALL IMMEDIATE")
    again = retention.apply_retention(now=NOW, months=MONTHS)
    assert (again["failed"], again["dropped"], again["rollups_written"]) == ([], ["engagement_event_y2022m02"], 1)
    assert CustomerEventRollup.objects.get(customer=gx).times == [datetime(2022, 2, 2, tzinfo=UTC)]


def test_a_goal_older_than_the_kept_events_has_no_baseline(acme):
    # Given a goal created in 2022, whose baseline month was dropped by retention
    from engagement.goals import get_goal_progress
    from engagement.models import Goal

    build_history(acme)
    goal = Goal.objects.create(
        program=acme,
        metric="page_views",
        target=Decimal("1000"),
        deadline=date(2026, 1, 1),
        created=datetime(2022, 6, 1, tzinfo=UTC),
    )
    retention.apply_retention(now=NOW, months=MONTHS)

    # When the dashboard reads its progress, then it is measured from 0, like a goal without one
    progress = get_goal_progress(goal, now=NOW)

    assert (progress.baseline, progress.start) == (None, Decimal(0))
    assert progress.current == compute_metrics(acme, ["page_views"], NOW - timedelta(days=30), NOW)["page_views"].value


def test_an_nth_event_campaign_still_counts_the_dropped_events(acme):
    # Given a "3rd purchase" campaign and alice's first two purchases, in 2022, then dropped
    from engagement.ingest import record_events
    from rewards.campaigns.models import CampaignEffect
    from tests.campaigns.conftest import ev, make_campaign
    from tests.factories import CustomerFactory

    campaign = make_campaign(acme, "nth_event", {"event_type": "purchase", "n": 3})
    alice = CustomerFactory(program=acme, external_id="alice")
    old = [ev(alice, "purchase", at=datetime(2022, 5, d, tzinfo=UTC), value=10, order_id=f"o{d}") for d in (1, 2)]
    processing.process_events(record_events(acme, old, enqueue=False).event_ids)
    retention.apply_retention(now=NOW, months=MONTHS)
    assert not Event.objects.filter(customer=alice).exists()

    # When she buys a third time
    processing.process_events(
        record_events(acme, [ev(alice, "purchase", value=10, order_id="o3")], enqueue=False).event_ids
    )

    # Then it is her third purchase for the campaign too
    assert list(CampaignEffect.objects.filter(campaign=campaign).values_list("customer_id", "occurrence")) == [
        (alice.pk, "nth:3")
    ]


def test_rebuilding_metric_snapshots_before_the_cutoff_is_refused_up_front(acme):
    from engagement.models import CustomerScoreSnapshot, MetricSnapshot

    build_history(acme)
    retention.apply_retention(now=NOW, months=MONTHS)
    acme.slug = "acme"
    acme.save()

    with pytest.raises(CommandError, match="Rebuild those days with --no-metrics"):
        call_command("rescore", "--program", "acme", "--start", "2023-02-10", "--end", "2023-02-11")

    assert (MetricSnapshot.objects.count(), CustomerScoreSnapshot.objects.count()) == (0, 0)


def test_a_retention_below_the_minimum_stops_start_up():
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "EVENTS_RETENTION_MONTHS": "12",
        "SECRET_KEY": "x",
        "DATABASE_URL": "postgres://u@127.0.0.1:1/u",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup()",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == 1
    assert "ImproperlyConfigured: EVENTS_RETENTION_MONTHS must be at least 28 (got 12)." in run.stderr


def test_the_export_shows_what_retention_kept(acme, acme_api):
    # Given c10, whose two events (2022) were dropped, and c11, who has no dropped event
    build_history(acme)
    retention.apply_retention(now=NOW, months=MONTHS)

    dropped = acme_api.get("/api/v1/customers/c10/export").json()
    kept = acme_api.get("/api/v1/customers/c11/export").json()

    assert dropped["events"] == []
    assert dropped["events_rolled_up"] == {
        "before": "2023-02-01T00:00:00Z",
        "events": [
            {"type": "page_view", "occurred_at": "2022-05-03T00:00:00Z", "value": None},
            {"type": "purchase", "occurred_at": "2022-06-03T00:00:00Z", "value": "40.00"},
        ],
        "referred_customers": [],
        "clicked_messages": [],
    }
    assert kept["events_rolled_up"] is None and len(kept["events"]) == 2


def test_a_dashboard_period_before_the_kept_events_shows_the_last_30_days(acme, admin_client):
    import time_machine

    # Given a 400-day churn lookback: a year compared with the year before reaches before the cutoff
    acme.churn_lookback_days = 400
    acme.save()
    build_history(acme)
    retention.apply_retention(now=NOW, months=MONTHS)

    with time_machine.travel(NOW, tick=False):
        response = admin_client.get("/admin/dashboard/", {"program": acme.pk, "days": 365})

    assert response.status_code == 200
    assert [str(e) for e in response.context["errors"]] == [
        "Events before 2023-02-01T00:00:00+00:00 are no longer kept (EVENTS_RETENTION_MONTHS): a period must start "
        "on or after 2024-03-07T00:00:00+00:00 for these metrics."
    ]
    chosen = response.context["period"]
    assert (chosen.first, chosen.last, chosen.preset) == (date(2025, 5, 17), date(2025, 6, 15), 30)
