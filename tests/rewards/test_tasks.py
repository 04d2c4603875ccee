"""Beat tasks of rewards run by a real Celery worker process."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from engagement.models import Customer
from rewards import ledger
from rewards.models import PointsAccount
from rewards.tasks import expire_points_task, recompute_tiers_task, release_pending_points_task
from tests.conftest import wait_for
from tests.rewards.factories import make_tiers


def account(customer):
    row = PointsAccount.objects.get(customer=customer)
    return row.balance, row.pending


@pytest.mark.django_db(transaction=True)
def test_expiry_release_and_tiers_in_a_worker(celery_worker, acme, alice):
    make_tiers(acme)
    # Points already past their expiry and a pending grant already past its return window.
    ledger.grant_points(
        customer=alice, points=40, reason="old", idempotency_key="old", expires_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    held_until = timezone.now() + timedelta(seconds=1)
    ledger.grant_points(customer=alice, points=600, reason="held", idempotency_key="held", pending_until=held_until)
    assert account(alice) == (40, 600)

    expire_points_task.delay()
    wait_for(lambda: account(alice) == (0, 600), message="expiry by the worker")

    wait_for(lambda: timezone.now() > held_until, message="the end of the return window")
    release_pending_points_task.delay()
    wait_for(lambda: account(alice) == (600, 0), message="release by the worker")

    recompute_tiers_task.delay()  # fans out one task per program
    wait_for(lambda: Customer.objects.get(pk=alice.pk).tier == "Silver", message="tier by the worker")
