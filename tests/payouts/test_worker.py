"""A payout through a real Celery worker against the local HTTP provider."""

from decimal import Decimal

from payouts import services
from payouts.models import Payout, Status
from payouts.tasks import process_payouts_task
from tests.conftest import wait_for
from tests.payouts.factories import make_payout


def test_a_task_delivered_twice_places_exactly_one_order(celery_worker, acme, alice, http_account, fake_provider):
    # Given a funded program whose provider answers slowly (so deliveries overlap)
    fake_provider.answer_delay = 0.5
    services.record_funding_top_up(acme, "MYR", Decimal("100.00"))

    # When a payout is requested (its processing task is enqueued on commit) and the task
    # is delivered twice more
    payout = make_payout(alice, provider="tremendous")
    process_payouts_task.delay([payout.pk])
    process_payouts_task.delay([payout.pk])

    # Then it succeeds with exactly one provider order, created by exactly one call
    wait_for(lambda: Payout.objects.get(pk=payout.pk).status == Status.SUCCEEDED, timeout=60, message="payout done")
    process_payouts_task.delay([payout.pk])
    wait_for(lambda: fake_provider.lookup_calls == 0 and _queues_empty(), timeout=30, message="tasks drained")
    assert (fake_provider.orders_created, fake_provider.create_calls) == (1, 1)
    assert [o["external_id"] for o in fake_provider.orders.values()] == [payout.reference]
    assert Payout.objects.get(pk=payout.pk).provider_attempts.count() == 1


def _queues_empty():
    from config.celery import app

    with app.connection_for_write() as connection:
        client = connection.channel().client
        return client.llen("payouts") == 0
