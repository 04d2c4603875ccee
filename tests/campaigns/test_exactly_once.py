"""Replays, duplicated deliveries and concurrent workers never grant twice."""

import pytest
from django.db import transaction
from django.db.models import Count

from engagement.ingest import record_events
from engagement.models import Event
from engagement.processing import process_events
from rewards.campaigns import engine
from rewards.campaigns.models import ActionRun, CampaignEffect
from rewards.models import LedgerEntry
from tests.campaigns.conftest import ev, ingest, make_campaign
from tests.conftest import start_worker, stop_worker, wait_for
from tests.factories import CustomerFactory


def campaign_entries(program):
    return LedgerEntry.objects.filter(program=program, source_type="campaign")


def test_replaying_the_same_batch_grants_once(acme, alice, bob):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 25})])
    batch = [ev(alice, "purchase", value="10", order_id="1"), ev(bob, "purchase", value="10", order_id="2")]
    ids = ingest(acme, batch)

    # the same batch again: from the partner (duplicates), and replayed through the handler
    ingest(acme, batch)
    with transaction.atomic():
        engine.handle_events(acme.pk, ids)
        engine.handle_events(acme.pk, ids)
    # and as if processing had lost its claim and ran again
    Event.objects.filter(id__in=ids).update(processed_at=None)
    process_events(ids)

    assert CampaignEffect.objects.filter(campaign=campaign).count() == 2
    assert ActionRun.objects.filter(campaign=campaign).count() == 2
    assert sorted(campaign_entries(acme).values_list("customer__external_id", "points")) == [
        ("alice", 25),
        ("bob", 25),
    ]


def _drained():
    from config.celery import app

    with app.connection_for_write() as conn:
        client = conn.channel().client
        if any(client.llen(queue) for queue in ("ingest", "campaigns")):
            return False
    active = app.control.inspect(timeout=1.0).active() or {}
    return all(not tasks for tasks in active.values())


@pytest.mark.worker
def test_two_real_workers_with_duplicated_deliveries_grant_once(acme, celery_worker):
    from engagement.tasks import process_events_task
    from rewards.campaigns.tasks import evaluate_events_task

    customers = [CustomerFactory(program=acme, external_id=f"w-{n}") for n in range(20)]
    every = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 3})])
    fifth = make_campaign(acme, "nth_event", {"event_type": "purchase", "n": 5}, [("grant_points", {"points": 50})])
    batches = []
    for b in range(8):
        events = [ev(c, "purchase", value="20", order_id=f"{b}-{c.external_id}") for c in customers]
        batches.append(record_events(acme, events, enqueue=False).event_ids)
    second = start_worker("second")
    try:
        # every batch delivered twice to processing and twice more straight to the handler,
        # spread over two worker processes (4 children) at once
        for ids in batches:
            process_events_task.delay(ids)
            evaluate_events_task.delay(acme.pk, ids)
            process_events_task.delay(ids)
            evaluate_events_task.delay(acme.pk, ids)
        wait_for(lambda: not Event.objects.filter(processed_at__isnull=True).exists(), 120, message="processing")
        wait_for(_drained, 120, message="queues drained")
    finally:
        stop_worker(second)

    assert CampaignEffect.objects.filter(campaign=every).count() == 160
    assert CampaignEffect.objects.filter(campaign=fifth).count() == 20
    per_key = campaign_entries(acme).values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
    assert list(per_key) == []
    assert campaign_entries(acme).count() == 180
    assert sorted(set(campaign_entries(acme).values_list("customer__external_id", flat=True))) == sorted(
        c.external_id for c in customers
    )
    totals = {c.external_id: 0 for c in customers}
    for external_id, points in campaign_entries(acme).values_list("customer__external_id", "points"):
        totals[external_id] += points
    assert set(totals.values()) == {8 * 3 + 50}
