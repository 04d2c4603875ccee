"""The checkout demo step: rules, a promotion with a code pool, an order paid partly with points."""

import pytest

from rewards import ledger
from rewards.checkout import demo
from rewards.checkout.models import CodePool, EarningRule, Promotion, PromotionCode, Reservation
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def no_progress(**kwargs):
    raise AssertionError("not used")


def test_demo_step_is_complete_and_idempotent(acme):
    customer = CustomerFactory(program=acme, external_id="cust-0001")
    ledger.grant_points(customer=customer, points=3000, reason="seed", idempotency_key="seed")
    demo.load_demo(acme, no_progress)
    demo.load_demo(acme, no_progress)

    assert EarningRule.objects.filter(program=acme).count() == 3
    assert Promotion.objects.filter(program=acme).count() == 1
    assert CodePool.objects.get().status == "ready"
    assert PromotionCode.objects.filter(pool__isnull=False).count() == 1000
    order = Reservation.objects.get(order_id="demo-order-1001")
    assert (order.status, order.points, str(order.order_total)) == ("confirmed", 1500, "43.2000")
