"""Admin: points adjustment with a required reason, CSV code upload, redemption actions."""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from rewards import ledger
from rewards.models import LedgerEntry, PointsAccount, Redemption, VoucherCode
from rewards.redemptions import redeem_reward
from tests.rewards.factories import RewardItemFactory, VoucherItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


def test_adjust_points_records_staff_user_and_reason(staff_client, alice):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    account = PointsAccount.objects.get(customer=alice)
    url = f"/admin/rewards/pointsaccount/{account.pk}/adjust/"

    response = staff_client.post(url, {"points": "-40", "reason": "Damaged parcel", "key": "k1"})

    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind="adjust")
    assert (entry.points, entry.reason, entry.actor, entry.actor_label) == (
        -40,
        "Damaged parcel",
        staff_client.user,
        "boss",
    )
    assert PointsAccount.objects.get(customer=alice).balance == 60


@pytest.mark.parametrize(
    "data, error",
    [
        ({"points": "10", "reason": "  "}, "This field is required."),
        ({"points": "0", "reason": "x"}, "Enter a non-zero number of points."),
        ({"points": "-101", "reason": "x"}, "Not enough points."),
    ],
)
def test_adjust_points_refusals_change_nothing(staff_client, alice, data, error):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    account = PointsAccount.objects.get(customer=alice)
    response = staff_client.post(f"/admin/rewards/pointsaccount/{account.pk}/adjust/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert LedgerEntry.objects.count() == 1
    assert PointsAccount.objects.get(customer=alice).balance == 100


def test_upload_codes_csv(staff_client, acme):
    item = VoucherItemFactory(program=acme)
    url = f"/admin/rewards/rewarditem/{item.pk}/codes/"
    bad = staff_client.post(url, {"file": SimpleUploadedFile("c.csv", b"code\nA-100\nA-100\n")})
    assert "appears twice" in bad.content.decode()
    assert VoucherCode.objects.count() == 0

    good = staff_client.post(url, {"file": SimpleUploadedFile("c.csv", b"code\nA-100\nA-101\n"), "batch": "nov"})
    assert good.status_code == 302
    assert sorted(VoucherCode.objects.values_list("code", "batch")) == [("A-100", "nov"), ("A-101", "nov")]


def test_ledger_entries_are_read_only_in_admin(staff_client, alice):
    entry = ledger.grant_points(customer=alice, points=10, reason="seed", idempotency_key="seed")
    assert staff_client.get("/admin/rewards/ledgerentry/").status_code == 200
    assert staff_client.get("/admin/rewards/ledgerentry/add/").status_code == 403
    assert staff_client.post(f"/admin/rewards/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.count() == 1


def test_redemption_fail_action_refunds(staff_client, acme, alice):
    from rewards.models import RewardItem

    item = RewardItemFactory(program=acme, points_cost=30, stock=5)
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    redemption = redeem_reward(customer=alice, item=item, idempotency_key="r")
    Redemption.objects.filter(pk=redemption.pk).update(status="processing")  # e.g. awaiting shipment

    response = staff_client.post(
        "/admin/rewards/redemption/", {"action": "fail_selected", "_selected_action": [redemption.pk]}
    )
    assert response.status_code == 302
    redemption.refresh_from_db()
    assert (redemption.status, redemption.failure_reason) == ("failed", "cancelled by boss")
    assert PointsAccount.objects.get(customer=alice).balance == 100
    assert RewardItem.objects.get(pk=item.pk).stock == 5
    assert staff_client.get("/admin/rewards/redemption/").status_code == 200
