"""Checkout fixtures: acme's earning rules, a promotion with codes, and cart helpers."""

from decimal import Decimal

import pytest

from rewards.checkout.models import CheckoutSettings, EarningRule, Promotion, PromotionCode
from rewards.models import RewardsSettings


def line(sku, price, quantity=1, category="", tags=None):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": price, "tags": tags or []}


def cart(customer="alice", *lines, codes=None, currency="MYR", **extra):
    return {"customer": customer, "currency": currency, "lines": list(lines), "codes": codes or [], **extra}


def make_promotion(program, name="Spring", code="SPRING10", *, max_uses=1, **fields):
    fields = {"title_en": f"{name} sale", "kind": "percent", "value": Decimal("10"), "level": "order", **fields}
    promotion = Promotion.objects.create(program=program, name=name, **fields)
    if code:
        PromotionCode.objects.create(program=program, promotion=promotion, code=code, max_uses=max_uses)
    return promotion


@pytest.fixture
def rules(acme):
    """Shoes earn double, gift cards nothing, the 'clearance' tag half, SKU TEE-1 triple."""
    RewardsSettings.get_for(acme)
    CheckoutSettings.get_for(acme)
    return [
        EarningRule.objects.create(program=acme, name="Shoes x2", target="category", value="shoes", multiplier=2),
        EarningRule.objects.create(
            program=acme, name="Gift cards", target="category", value="gift-cards", excluded=True
        ),
        EarningRule.objects.create(program=acme, name="Clearance", target="tag", value="clearance", multiplier="0.5"),
        EarningRule.objects.create(program=acme, name="Tee x3", target="sku", value="TEE-1", multiplier=3),
    ]
