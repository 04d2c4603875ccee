"""The demo's fulfilments: a merchandise, donation and experience redemption in each state,
and a rerun that adds nothing."""

import pytest

from rewards import demo
from rewards.models import Charity, Fulfilment, LedgerEntry
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_one_redemption_in_each_fulfilment_state_and_reruns_add_nothing(acme):
    for n in range(30, 38):
        CustomerFactory(program=acme, external_id=f"cust-{n:04d}", name=f"Customer {n}")
    items = demo.ensure_catalogue(acme)

    demo.ensure_fulfilments(acme, items)
    demo.ensure_fulfilments(acme, items)

    assert sorted(Fulfilment.objects.values_list("kind", "status")) == [
        ("donation", "donated"), ("donation", "requested"), ("experience", "booked"), ("experience", "requested"),
        ("merchandise", "delivered"), ("merchandise", "requested"), ("merchandise", "returned"),
        ("merchandise", "shipped"),
    ]  # fmt: skip
    assert Charity.objects.filter(program=acme).count() == 2
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert Fulfilment.objects.get(kind="merchandise", status="shipped").ship_city == "Kuala Lumpur"
