"""Races on real PostgreSQL through the API: many reservations against one balance, many
uses of one single-use code."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from rewards import ledger
from rewards.checkout.models import CodeUse, Promotion, PromotionCode, Reservation
from rewards.models import LedgerEntry, PointsAccount
from tests.checkout.conftest import cart, line, make_promotion
from tests.conftest import make_partner_client
from tests.factories import CustomerFactory, ProgramFactory

pytestmark = pytest.mark.django_db(transaction=True)
RESERVE = "/api/v1/checkout/reservations"
# PostgreSQL of the tests allows 200 connections: 100 threads start at once, 2 requests each.
THREADS = 100


def race(requests, credentials):
    """Send `requests` (bodies) from THREADS threads released together; returns the answers."""
    barrier = threading.Barrier(THREADS)
    answers = [None] * len(requests)

    def worker(start):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=credentials)
        try:
            barrier.wait()
            for i in range(start, len(requests), THREADS):
                answers[i] = client.post(RESERVE, requests[i], format="json")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_two_hundred_reservations_never_overdraw_one_balance():
    program = ProgramFactory(slug="race", currency="MYR")
    customer = CustomerFactory(program=program, external_id="alice")
    ledger.grant_points(customer=customer, points=1000, reason="seed", idempotency_key="seed")
    api = make_partner_client(program)
    bodies = [cart("alice", line("A", "50.00"), order_id=f"o-{i}", points=100) for i in range(200)]

    answers = race(bodies, api._credentials["HTTP_AUTHORIZATION"])

    statuses = sorted((a.status_code, a.data.get("errors", [{}])[0].get("code")) for a in answers)
    assert statuses == [(201, None)] * 10 + [(409, "insufficient_points")] * 190
    assert PointsAccount.objects.get(customer=customer).balance == 0
    assert Reservation.objects.count() == LedgerEntry.objects.filter(kind="spend").count() == 10
    call_command("verify_ledger")


def test_a_hundred_uses_of_a_single_use_code_count_once():
    program = ProgramFactory(slug="codes", currency="MYR")
    for i in range(100):
        CustomerFactory(program=program, external_id=f"c-{i}")
    make_promotion(program, code="ONLY1", max_uses=1)
    api = make_partner_client(program)
    bodies = [cart(f"c-{i}", line("A", "50.00"), codes=["ONLY1"], order_id=f"o-{i}") for i in range(100)]

    answers = race(bodies, api._credentials["HTTP_AUTHORIZATION"])

    statuses = sorted((a.status_code, a.data.get("errors", [{}])[0].get("code")) for a in answers)
    # The losers either saw the code used (evaluation) or lost the conditional update.
    assert statuses[0] == (201, None)
    assert {s for s in statuses[1:]} == {(409, "exhausted")} and len(statuses) == 100
    assert PromotionCode.objects.get().uses == Promotion.objects.get().uses == 1
    assert Reservation.objects.count() == CodeUse.objects.count() == 1
