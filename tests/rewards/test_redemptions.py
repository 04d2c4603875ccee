"""Redemption fulfilment paths: vouchers, campaign gifts, cash payouts that fail, CSV pools."""

from decimal import Decimal

import pytest

from rewards import ledger
from rewards.errors import InsufficientPoints, ItemUnavailable
from rewards.models import LedgerEntry, PointsAccount, Redemption, RewardItem, VoucherCode
from rewards.redemptions import grant_reward, redeem_reward
from rewards.vouchers import import_codes, mark_code_used
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory

pytestmark = pytest.mark.django_db


def balance(customer):
    return PointsAccount.objects.get(customer=customer).balance


def test_grant_reward_is_free_and_idempotent(acme, alice, assert_ledger_ok):
    item = VoucherItemFactory(program=acme, points_cost=500, eligible_tiers=["Gold"])
    VoucherCodeFactory(item=item, code="GIFT-1")
    first = grant_reward(customer=alice, item=item, idempotency_key="camp-1")
    again = grant_reward(customer=alice, item=item, idempotency_key="camp-1")
    assert again.pk == first.pk
    assert (first.points, first.status, first.source, first.code) == (0, "completed", "campaign", "GIFT-1")
    assert LedgerEntry.objects.count() == 0
    assert_ledger_ok()


def test_stock_is_reserved(acme, alice):
    item = RewardItemFactory(program=acme, points_cost=10, stock=2)
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    redeem_reward(customer=alice, item=item, idempotency_key="a")
    item.refresh_from_db()
    assert item.stock == 1


def test_cash_redemption_refunded_when_payout_cancelled(
    acme, alice, assert_ledger_ok, django_capture_on_commit_callbacks
):
    from payouts.models import Payout
    from payouts.services import cancel_payout

    item = RewardItemFactory(program=acme, kind="cash", points_cost=300, cash_value=Decimal("15.00"), stock=3)
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")

    redemption = redeem_reward(customer=alice, item=item, idempotency_key="cash-1")
    payout = Payout.objects.get(pk=redemption.payout_id)
    assert (redemption.status, payout.amount, payout.currency, payout.source) == (
        "processing", Decimal("15.00"), "MYR", "redemption",
    )  # fmt: skip
    assert balance(alice) == 700

    cancel_payout(payout.pk, reason="customer asked")

    redemption.refresh_from_db()
    item.refresh_from_db()
    assert (redemption.status, redemption.failure_reason) == ("failed", "payout cancelled")
    assert balance(alice) == 1000
    assert item.stock == 3
    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.points, refund.redemption_id) == (300, redemption.pk)
    assert_ledger_ok()


def test_redeem_overdraw_changes_nothing(acme, alice):
    item = VoucherItemFactory(program=acme, points_cost=100)
    VoucherCodeFactory(item=item)
    ledger.grant_points(customer=alice, points=99, reason="seed", idempotency_key="seed")
    with pytest.raises(InsufficientPoints):
        redeem_reward(customer=alice, item=item, idempotency_key="x")
    assert balance(alice) == 99
    assert Redemption.objects.count() == 0
    assert VoucherCode.objects.get().status == "available"


def test_csv_import_validates_and_rejects_duplicates(acme):
    item = VoucherItemFactory(program=acme)
    VoucherCodeFactory(item=item, code="EXIST-1")

    bad = import_codes(item, b"code\nNEW-1\nNEW-1\nEXIST-1\nbad code\n")
    assert bad.created == 0
    assert bad.errors == [
        "Line 3: NEW-1 appears twice in the file.",
        "Line 5: 'bad code' is not a valid code.",
        "EXIST-1 already exists.",
    ]
    assert VoucherCode.objects.count() == 1

    good = import_codes(item, "code\nNEW-1\nNEW-2,extra column\n\n", batch="b1")
    assert (good.created, good.errors) == (2, [])
    assert sorted(VoucherCode.objects.values_list("code", flat=True)) == ["EXIST-1", "NEW-1", "NEW-2"]


def test_csv_import_refused_for_non_voucher_item(acme):
    item = RewardItemFactory(program=acme)
    assert import_codes(item, "A-1\n").created == 0
    assert VoucherCode.objects.count() == 0


def test_used_or_foreign_voucher_cannot_be_used(acme, globex, alice):
    item = VoucherItemFactory(program=acme, points_cost=10)
    VoucherCodeFactory(item=item, code="ONE-1")
    ledger.grant_points(customer=alice, points=10, reason="seed", idempotency_key="seed")
    redeem_reward(customer=alice, item=item, idempotency_key="x")

    assert mark_code_used(globex, "ONE-1") is None  # another program's code
    assert mark_code_used(acme, "ONE-1").status == "used"
    assert mark_code_used(acme, "ONE-1") is None  # already used
    assert VoucherCode.objects.get().status == "used"
    assert RewardItem.objects.count() == 1


def test_cash_redemption_refusals_create_no_payout(acme, alice, bob):
    from payouts.models import Payout

    item = RewardItemFactory(program=acme, kind="gift_card", points_cost=300, cash_value=Decimal("15.00"), stock=1)
    ledger.grant_points(customer=alice, points=299, reason="seed", idempotency_key="seed")
    with pytest.raises(InsufficientPoints):
        redeem_reward(customer=alice, item=item, idempotency_key="cash-1")
    type(bob).objects.filter(pk=bob.pk).update(email="")  # a gift card needs an email to go to
    bob.refresh_from_db()
    ledger.grant_points(customer=bob, points=500, reason="seed", idempotency_key="seed-b")
    with pytest.raises(ItemUnavailable):
        redeem_reward(customer=bob, item=item, idempotency_key="cash-2")

    assert (Payout.objects.count(), Redemption.objects.count()) == (0, 0)
    assert (balance(alice), balance(bob)) == (299, 500)
    assert RewardItem.objects.get(pk=item.pk).stock == 1
