"""Webhook events recorded by rewards, and the loyalty metric providers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from engagement import hooks
from engagement.models import Customer
from engagement.webhooks.models import WebhookEvent
from rewards import ledger, tiers
from rewards.errors import OutOfStock
from rewards.models import RewardsSettings
from rewards.redemptions import fail_redemption, redeem_reward
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory, make_tiers

pytestmark = pytest.mark.django_db


def webhook_types():
    return list(WebhookEvent.objects.order_by("id").values_list("type", flat=True))


def test_webhooks_for_grant_redeem_fail_expire_and_tier(acme, alice):
    make_tiers(acme)
    ledger.grant_points(customer=alice, points=600, reason="bonus", idempotency_key="g")
    voucher = VoucherItemFactory(program=acme, points_cost=100)
    VoucherCodeFactory(item=voucher, code="W-1")
    redeem_reward(customer=alice, item=voucher, idempotency_key="r1")
    shipped = RewardItemFactory(program=acme, points_cost=50)
    processing = redeem_reward(customer=alice, item=shipped, idempotency_key="r2")
    type(processing).objects.filter(pk=processing.pk).update(status="processing")
    fail_redemption(processing.pk, "lost parcel")
    tiers.recompute_tiers(acme)
    ledger.grant_points(
        customer=alice, points=5, reason="x", idempotency_key="e", expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    with time_machine.travel(datetime(2031, 1, 1, tzinfo=UTC)):
        ledger.expire_points()

    assert webhook_types() == [
        "reward.granted", "redemption.completed", "redemption.completed", "redemption.failed", "tier.changed",
        "reward.granted", "points.expired",
    ]  # fmt: skip
    failed = WebhookEvent.objects.get(type="redemption.failed").payload
    assert (failed["customer"], failed["status"], failed["failure_reason"]) == ("alice", "failed", "lost parcel")
    changed = WebhookEvent.objects.get(type="tier.changed").payload
    assert (changed["from"], changed["to"]) == ("", "Silver")


def test_rolled_back_redemption_records_no_webhook(acme, alice):
    item = RewardItemFactory(program=acme, points_cost=100, stock=0)
    ledger.grant_points(customer=alice, points=500, reason="seed", idempotency_key="s")
    before = webhook_types()
    with pytest.raises(OutOfStock):
        redeem_reward(customer=alice, item=item, idempotency_key="x")
    assert webhook_types() == before


def test_loyalty_metrics(acme, alice, bob):
    start = datetime(2026, 6, 1, tzinfo=UTC)
    RewardsSettings.objects.create(program=acme, expiry_rounding="none")
    Customer.objects.filter(pk__in=[alice.pk, bob.pk]).update(created_at=start - timedelta(days=10))
    item = RewardItemFactory(program=acme, points_cost=100, cash_value=Decimal("7.50"))
    with time_machine.travel(start + timedelta(days=1), tick=False):
        ledger.grant_points(customer=alice, points=400, reason="a", idempotency_key="a")
        ledger.grant_points(
            customer=bob, points=100, reason="b", idempotency_key="b", expires_at=start + timedelta(days=3)
        )
        redeem_reward(customer=alice, item=item, idempotency_key="r")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        ledger.expire_points()
    end = start + timedelta(days=30)
    providers = hooks.metric_providers()
    got = {name: providers[name](acme, start, end).value for name in (
        "points_issued", "points_redeemed", "points_expired", "redemption_rate", "participation_rate", "reward_cost",
    )}  # fmt: skip
    assert got == {
        "points_issued": Decimal(500),
        "points_redeemed": Decimal(100),
        "points_expired": Decimal(100),
        "redemption_rate": Decimal(20),
        "participation_rate": Decimal(100),
        "reward_cost": Decimal("7.50"),
    }
