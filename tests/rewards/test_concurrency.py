"""Concurrency on PostgreSQL: many threads against one balance and one code pool."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection

from rewards import ledger
from rewards.errors import InsufficientPoints, OutOfStock
from rewards.models import LedgerEntry, PointsAccount, Redemption, VoucherCode
from rewards.redemptions import redeem_reward
from tests.factories import CustomerFactory, ProgramFactory
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(count, work):
    """Start `count` threads at once (a barrier), each running work(i) on its own
    connection; returns the list of results or exceptions."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def target(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_threads_redeem_against_one_balance():
    program = ProgramFactory(slug="race")
    customer = CustomerFactory(program=program, external_id="racer")
    item = RewardItemFactory(program=program, points_cost=100)
    ledger.grant_points(customer=customer, points=1000, reason="seed", idempotency_key="seed")

    results = run_threads(50, lambda i: redeem_reward(customer=customer, item=item, idempotency_key=f"r-{i}"))

    succeeded = [r for r in results if isinstance(r, Redemption)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(succeeded), len(refused)) == (10, 40)
    assert PointsAccount.objects.get(customer=customer).balance == 0
    assert Redemption.objects.count() == 10
    assert LedgerEntry.objects.filter(kind="redeem").count() == 10
    call_command("verify_ledger")  # raises CommandError on any breach


def test_twenty_threads_race_for_the_last_five_codes():
    program = ProgramFactory(slug="codes")
    item = VoucherItemFactory(program=program, points_cost=10)
    VoucherCodeFactory.create_batch(5, item=item)
    customers = [CustomerFactory(program=program, external_id=f"c{i}") for i in range(20)]
    for customer in customers:
        ledger.grant_points(customer=customer, points=10, reason="seed", idempotency_key=f"seed-{customer.pk}")

    results = run_threads(20, lambda i: redeem_reward(customer=customers[i], item=item, idempotency_key=f"v-{i}").code)

    codes = [r for r in results if isinstance(r, str)]
    assert len(codes) == 5
    assert len(set(codes)) == 5
    assert sum(isinstance(r, OutOfStock) for r in results) == 15
    assert VoucherCode.objects.filter(status="available").count() == 0
    # The 15 losers kept their points; the 5 winners spent theirs.
    balances = sorted(PointsAccount.objects.filter(program=program).values_list("balance", flat=True))
    assert balances == [0] * 5 + [10] * 15
    call_command("verify_ledger")
