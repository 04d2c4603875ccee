"""POST /api/v1/redemptions takes a merchandise reward's shipping address and a donation's
charity with the portal's own rules; a missing or bad one is a 400 in the one error shape
with nothing created (balance, stock, rows)."""

import pytest

from rewards import ledger
from rewards.models import Charity, Fulfilment, LedgerEntry, PointsAccount, Redemption, RewardItem, RewardKind
from tests.factories import CustomerFactory, ProgramFactory
from tests.rewards.factories import RewardItemFactory

pytestmark = pytest.mark.django_db

ADDRESS = {
    "name": "Alice Tan",
    "line1": "12  Jalan Ampang",
    "city": "Kuala Lumpur",
    "region": "WP Kuala Lumpur",
    "postcode": "50450",
    "country": "MY",
    "phone": "+60 12-345 6789",
}


def snapshot():
    return (
        LedgerEntry.objects.count(),
        Redemption.objects.count(),
        Fulfilment.objects.count(),
        list(PointsAccount.objects.order_by("pk").values_list("balance", flat=True)),
        list(RewardItem.objects.order_by("pk").values_list("stock", flat=True)),
    )


def redeem(api, item, key="r-1", **extra):
    body = {"customer": "alice", "reward": item.pk, **extra}
    return api.post("/api/v1/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def mug(acme, alice):
    ledger.grant_points(customer=alice, points=500, reason="seed", idempotency_key="seed")
    return RewardItemFactory(program=acme, kind=RewardKind.MERCHANDISE, points_cost=300, stock=5, title_en="Mug")


@pytest.fixture
def donation(acme, alice):
    ledger.grant_points(customer=alice, points=500, reason="seed", idempotency_key="seed")
    return RewardItemFactory(program=acme, kind=RewardKind.DONATION, points_cost=100, title_en="Give RM10")


def test_merchandise_with_an_address_starts_a_requested_fulfilment(acme_api, mug, alice):
    response = redeem(acme_api, mug, shipping_address=ADDRESS)

    assert (response.status_code, response.json()["status"]) == (201, "completed")
    fulfilment = Fulfilment.objects.get(redemption_id=response.json()["id"])
    assert (
        fulfilment.status, fulfilment.ship_name, fulfilment.ship_line1, fulfilment.ship_line2, fulfilment.ship_city,
        fulfilment.ship_postcode, fulfilment.ship_country, fulfilment.ship_phone,
    ) == ("requested", "Alice Tan", "12 Jalan Ampang", "", "Kuala Lumpur", "50450", "MY", "+60 12-345 6789")  # fmt: skip
    assert (PointsAccount.objects.get(customer=alice).balance, RewardItem.objects.get(pk=mug.pk).stock) == (200, 4)


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({}, [("required", "shipping_address")]),
        ({"shipping_address": {**ADDRESS, "country": "FR"}}, [("invalid_choice", "shipping_address.country")]),
        (
            {"shipping_address": {**ADDRESS, "postcode": "!", "phone": "call me"}},
            [("invalid", "shipping_address.phone"), ("invalid", "shipping_address.postcode")],
        ),
        ({"shipping_address": {"name": "Alice Tan"}}, None),  # DRF: the missing fields, each required
        ({"shipping_address": ADDRESS, "charity": 1}, [("invalid", "charity")]),
    ],
)
def test_a_missing_or_bad_address_is_a_400_and_changes_nothing(acme_api, mug, extra, expected):
    before = snapshot()

    response = redeem(acme_api, mug, **extra)

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    got = sorted((e["code"], e["attr"]) for e in body["errors"])
    if expected is None:
        expected = [
            ("required", f"shipping_address.{name}") for name in ("city", "country", "line1", "phone", "postcode")
        ]
    assert got == expected
    assert snapshot() == before


def test_the_address_error_reads_like_the_portal(acme_api, mug):
    response = redeem(acme_api, mug, shipping_address={**ADDRESS, "postcode": "!"})

    assert response.json()["errors"] == [
        {"code": "invalid", "detail": "Enter a postcode of letters and digits.", "attr": "shipping_address.postcode"}
    ]


def test_an_address_for_a_reward_that_is_not_shipped_is_refused(acme_api, acme, alice):
    ledger.grant_points(customer=alice, points=500, reason="seed", idempotency_key="seed")
    card = RewardItemFactory(program=acme, kind=RewardKind.EXPERIENCE, points_cost=100)
    before = snapshot()

    response = redeem(acme_api, card, shipping_address=ADDRESS)

    assert (response.status_code, response.json()["errors"][0]["attr"]) == (400, "shipping_address")
    assert snapshot() == before


def test_a_donation_goes_to_the_chosen_charity(acme_api, acme, donation):
    Charity.objects.create(program=acme, name_en="Food Aid", position=1)
    chosen = Charity.objects.create(program=acme, name_en="Mercy Malaysia", registration="PPM-001", position=2)

    listed = acme_api.get("/api/v1/rewards").json()["results"]
    [entry] = [r for r in listed if r["id"] == donation.pk]
    assert [(c["name"]["en"], c["registration"]) for c in entry["charities"]] == [
        ("Food Aid", ""), ("Mercy Malaysia", "PPM-001"),
    ]  # fmt: skip
    response = redeem(acme_api, donation, charity=chosen.pk)

    assert response.status_code == 201
    assert Fulfilment.objects.get(redemption_id=response.json()["id"]).charity == chosen


@pytest.mark.parametrize("case", ["missing", "inactive", "other_program"])
def test_a_missing_or_foreign_charity_is_a_400_and_changes_nothing(acme_api, acme, donation, case):
    Charity.objects.create(program=acme, name_en="Food Aid")
    inactive = Charity.objects.create(program=acme, name_en="Closed", active=False)
    other = ProgramFactory(slug="other")
    CustomerFactory(program=other, external_id="alice")
    foreign = Charity.objects.create(program=other, name_en="Elsewhere")
    extra = {"missing": {}, "inactive": {"charity": inactive.pk}, "other_program": {"charity": foreign.pk}}[case]
    before = snapshot()

    response = redeem(acme_api, donation, **extra)

    assert response.status_code == 400
    code = "required" if case == "missing" else "invalid_choice"
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [(code, "charity")]
    assert snapshot() == before


def test_a_donation_without_a_charity_list_needs_no_choice(acme_api, donation):
    response = redeem(acme_api, donation)

    assert response.status_code == 201
    assert Fulfilment.objects.get(redemption_id=response.json()["id"]).charity is None


def test_the_redemption_answer_carries_its_fulfilment_and_follows_the_shipment(acme_api, mug, alice):
    from rewards import fulfilment as fulfilment_service

    created = redeem(acme_api, mug, shipping_address=ADDRESS).json()
    assert (created["fulfilment"]["kind"], created["fulfilment"]["status"]) == ("merchandise", "requested")
    assert "ship_line1" not in created["fulfilment"]  # the address is not echoed back

    fulfilment_service.mark_shipped(
        Fulfilment.objects.get(redemption_id=created["id"]).pk, carrier="Pos Laju", tracking_number="EP123MY"
    )
    shown = acme_api.get(f"/api/v1/redemptions/{created['id']}").json()["fulfilment"]
    assert (shown["status"], shown["carrier"], shown["tracking_number"], shown["shipped_at"] is not None) == (
        "shipped", "Pos Laju", "EP123MY", True,
    )  # fmt: skip


def test_an_experience_shows_its_booking_once_booked(acme_api, acme, alice):
    from rewards import fulfilment as fulfilment_service

    ledger.grant_points(customer=alice, points=500, reason="seed", idempotency_key="seed")
    masterclass = RewardItemFactory(program=acme, kind=RewardKind.EXPERIENCE, points_cost=100, title_en="Class")
    created = redeem(acme_api, masterclass).json()
    assert (created["fulfilment"]["status"], created["fulfilment"]["booking_code"]) == ("requested", "")

    fulfilment_service.mark_booked(Fulfilment.objects.get(redemption_id=created["id"]).pk, booking_code="BK-42")
    shown = acme_api.get(f"/api/v1/redemptions/{created['id']}").json()["fulfilment"]
    assert (shown["kind"], shown["booking_code"], shown["booked_at"] is not None) == ("experience", "BK-42", True)
