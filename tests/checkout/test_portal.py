"""The customer's portal: points held for orders and orders paid with points, in their language."""

from decimal import Decimal

import pytest

from rewards import ledger
from rewards.checkout.reservations import confirm_reservation, reserve_points
from rewards.checkout.rules import Line
from tests.rewards.test_portal import signed_in_client

pytestmark = pytest.mark.django_db


def hold(program, customer, order, points):
    lines = [Line("A", "", 1, Decimal("100.00"))]
    return reserve_points(program=program, customer=customer, order_id=order, lines=lines, codes=[], points=points)[0]


@pytest.mark.parametrize(
    ("language", "paid", "held_title", "dashboard"),
    [
        ("en", "Paid with points: order <bdi>o-1</bdi>", "Points held for orders", "700 points held for orders"),
        ("ar", "دُفع بالنقاط: الطلب <bdi>o-1</bdi>", "نقاط محجوزة للطلبات", "نقطة محجوزة لطلبات عند الدفع"),
        ("ms", "Dibayar dengan mata: pesanan <bdi>o-1</bdi>", "Mata yang ditahan untuk pesanan", "mata ditahan"),
    ],
)
def test_history_and_dashboard_show_held_and_paid_orders(acme, alice, language, paid, held_title, dashboard):
    ledger.grant_points(customer=alice, points=2000, reason="seed", idempotency_key="seed")
    confirm_reservation(acme, hold(acme, alice, "o-1", 1000).pk)
    hold(acme, alice, "o-2", 700)
    client = signed_in_client(alice)
    client.cookies["django_language"] = language

    history = client.get("/portal/history/").content.decode()
    assert paid in history and "-1,000" in history
    assert held_title in history and "<bdi>o-2</bdi>" in history
    assert history.count("<bdi>o-1</bdi>") == 1  # paid: in the activity, not among the holds
    assert dashboard in client.get("/portal/").content.decode()
