"""Partner API of rewards: balance, ledger, grants, adjustments, catalogue, redemptions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rewards import ledger
from rewards.models import (
    ExpiryRounding,
    LedgerEntry,
    PointsAccount,
    Redemption,
    RewardItem,
    RewardsSettings,
    VoucherCode,
)
from rewards.redemptions import redeem_reward
from tests.factories import CustomerFactory
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory, make_tiers

pytestmark = pytest.mark.django_db


def balance_of(customer):
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.balance if account else 0


def snapshot():
    return (
        LedgerEntry.objects.count(),
        Redemption.objects.count(),
        list(PointsAccount.objects.order_by("pk").values_list("balance", "pending")),
        list(RewardItem.objects.order_by("pk").values_list("stock", flat=True)),
        list(VoucherCode.objects.order_by("pk").values_list("status", flat=True)),
    )


def test_grant_then_balance_and_ledger(acme_api, alice):
    response = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 300, "reason": "Survey bonus"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="g-1",
    )
    assert response.status_code == 201
    assert (response.data["points"], response.data["kind"], response.data["balance_after"]) == (300, "earn", 300)

    replay = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 300, "reason": "Survey bonus"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="g-1",
    )
    assert replay.status_code == 201
    assert replay.data["id"] == response.data["id"]
    assert balance_of(alice) == 300

    body = acme_api.get("/api/v1/customers/alice/balance").json()
    assert (body["balance"], body["pending"], body["tier"], body["customer"]) == (300, 0, "", "alice")

    ledger.adjust_points(customer=alice, points=-50, reason="fix", actor="t", idempotency_key="a")
    page = acme_api.get("/api/v1/customers/alice/ledger?page_size=1").json()
    assert [e["points"] for e in page["results"]] == [-50]
    assert page["next"] is not None
    second = acme_api.get(page["next"]).json()
    assert [e["points"] for e in second["results"]] == [300]


def test_grant_without_idempotency_key_is_refused(acme_api, alice):
    response = acme_api.post("/api/v1/points/grants", {"customer": "alice", "points": 5, "reason": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "Idempotency-Key"
    assert LedgerEntry.objects.count() == 0


def test_grant_to_another_programs_customer_is_404(acme_api, globex):
    CustomerFactory(program=globex, external_id="zed")
    response = acme_api.post(
        "/api/v1/points/grants", {"customer": "zed", "points": 5, "reason": "x"}, format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )  # fmt: skip
    assert response.status_code == 404
    assert LedgerEntry.objects.count() == 0


def test_adjustment_cannot_overdraw(acme_api, alice):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    before = snapshot()
    response = acme_api.post(
        "/api/v1/points/adjustments", {"customer": "alice", "points": -101, "reason": "oops"}, format="json",
        HTTP_IDEMPOTENCY_KEY="adj-1",
    )  # fmt: skip
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "insufficient_points"
    assert snapshot() == before

    ok = acme_api.post(
        "/api/v1/points/adjustments", {"customer": "alice", "points": -100, "reason": "ok"}, format="json",
        HTTP_IDEMPOTENCY_KEY="adj-2",
    )  # fmt: skip
    assert ok.status_code == 201
    assert (ok.data["kind"], ok.data["points"], ok.data["balance_after"]) == ("adjust", -100, 0)


def test_adjustment_needs_reason_and_nonzero(acme_api, alice):
    response = acme_api.post(
        "/api/v1/points/adjustments", {"customer": "alice", "points": 0}, format="json", HTTP_IDEMPOTENCY_KEY="z"
    )
    assert response.status_code == 400
    assert sorted(e["attr"] for e in response.json()["errors"]) == ["points", "reason"]


def test_catalogue_for_customer_shows_eligibility(acme_api, acme, alice):
    make_tiers(acme)
    open_item = RewardItemFactory(program=acme, points_cost=50, title_en="Mug")
    gold = RewardItemFactory(program=acme, points_cost=10, title_en="Lounge", eligible_tiers=["Gold"])
    RewardItemFactory(program=acme, title_en="Old", valid_until=timezone.now() - timedelta(days=1))
    ledger.grant_points(customer=alice, points=60, reason="seed", idempotency_key="seed")

    results = acme_api.get("/api/v1/rewards?customer=alice").json()["results"]
    got = {r["title"]["en"]: (r["eligible"], r["ineligible_reason"], r["affordable"]) for r in results}
    assert got == {"Mug": (True, None, True), "Lounge": (False, "not_eligible", True)}
    assert {r["id"] for r in results} == {open_item.pk, gold.pk}


def test_redeem_voucher_via_api_and_read_it(acme_api, acme, alice):
    item = VoucherItemFactory(program=acme, points_cost=100)
    VoucherCodeFactory(item=item, code="KOPI-0001")
    ledger.grant_points(customer=alice, points=150, reason="seed", idempotency_key="seed")

    response = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": item.pk}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert response.status_code == 201
    assert (response.data["status"], response.data["code"], response.data["points"]) == ("completed", "KOPI-0001", 100)
    assert balance_of(alice) == 50

    read = acme_api.get(f"/api/v1/redemptions/{response.data['id']}").json()
    assert (read["status"], read["code"]) == ("completed", "KOPI-0001")

    # Replaying the same request gives the same redemption and changes nothing.
    before = snapshot()
    replay = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": item.pk}, format="json", HTTP_IDEMPOTENCY_KEY="r-1"
    )
    assert replay.data["id"] == response.data["id"]
    assert snapshot() == before


@pytest.mark.parametrize(
    "case, expected_status, expected_code",
    [
        ("overdraw", 409, "insufficient_points"),
        ("out_of_stock", 409, "out_of_stock"),
        ("no_codes", 409, "out_of_stock"),
        ("ineligible_tier", 403, "not_eligible"),
        ("expired_item", 409, "unavailable"),
    ],
)
def test_redemption_refusals_change_nothing(acme_api, acme, alice, case, expected_status, expected_code):
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    item = {
        "overdraw": lambda: RewardItemFactory(program=acme, kind="experience", points_cost=101),
        "out_of_stock": lambda: RewardItemFactory(program=acme, kind="experience", points_cost=10, stock=0),
        "no_codes": lambda: VoucherItemFactory(program=acme, points_cost=10),
        "ineligible_tier": lambda: RewardItemFactory(
            program=acme, kind="experience", points_cost=10, eligible_tiers=["Gold"]
        ),
        "expired_item": lambda: RewardItemFactory(
            program=acme, kind="experience", points_cost=10, valid_until=timezone.now() - timedelta(hours=1)
        ),
    }[case]()
    if case == "no_codes":
        used = VoucherCodeFactory(item=item)
        VoucherCode.objects.filter(pk=used.pk).update(status="assigned")
    before = snapshot()

    response = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": item.pk}, format="json", HTTP_IDEMPOTENCY_KEY="x"
    )

    assert response.status_code == expected_status
    assert response.json()["errors"][0]["code"] == expected_code
    assert snapshot() == before


def test_foreign_reward_and_redemption_are_404(acme_api, acme, globex, alice):
    zed = CustomerFactory(program=globex, external_id="zed")
    foreign_item = RewardItemFactory(program=globex, points_cost=10)
    ledger.grant_points(customer=zed, points=100, reason="seed", idempotency_key="seed")
    foreign = redeem_reward(customer=zed, item=foreign_item, idempotency_key="z1")
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed-a")
    before = snapshot()

    assert acme_api.get(f"/api/v1/redemptions/{foreign.pk}").status_code == 404
    response = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": foreign_item.pk}, format="json",
        HTTP_IDEMPOTENCY_KEY="f",
    )  # fmt: skip
    assert response.status_code == 404
    assert snapshot() == before


def test_same_key_for_another_customer_is_422(acme_api, acme, alice, bob):
    item = RewardItemFactory(program=acme, kind="experience", points_cost=10)
    for c in (alice, bob):
        ledger.grant_points(customer=c, points=100, reason="seed", idempotency_key=f"seed-{c.pk}")
    first = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": item.pk, "idempotency_key": "same"}, format="json"
    )
    assert first.status_code == 201
    before = snapshot()
    second = acme_api.post(
        "/api/v1/redemptions", {"customer": "bob", "reward": item.pk, "idempotency_key": "same"}, format="json"
    )
    assert second.status_code == 422
    assert snapshot() == before


def test_voucher_use_at_checkout(acme_api, acme, globex, alice):
    item = VoucherItemFactory(program=acme, points_cost=10)
    VoucherCodeFactory(item=item, code="USE-1")
    VoucherCodeFactory(item=item, code="NEVER-GIVEN")
    foreign = VoucherCodeFactory(item=VoucherItemFactory(program=globex), code="THEIRS-1")
    ledger.grant_points(customer=alice, points=10, reason="seed", idempotency_key="seed")
    redeem_reward(customer=alice, item=item, idempotency_key="r")

    ok = acme_api.post("/api/v1/vouchers/USE-1/use")
    assert (ok.status_code, ok.json()["status"]) == (200, "used")
    before = snapshot()
    again = acme_api.post("/api/v1/vouchers/USE-1/use")
    assert (again.status_code, again.json()["errors"][0]["code"]) == (409, "voucher_used")
    for code in (foreign.code, "NEVER-GIVEN", "NOPE"):
        response = acme_api.post(f"/api/v1/vouchers/{code}/use")
        assert (response.status_code, response.json()["errors"][0]["code"]) == (404, "voucher_not_found")
    assert snapshot() == before
    assert VoucherCode.objects.get(code="THEIRS-1").status == "available"


def test_segment_eligibility(acme_api, acme, alice, bob):
    from engagement.models import CustomerScore

    CustomerScore.objects.create(customer=alice, program=acme, segment="Champions", scored_at=timezone.now())
    RewardItemFactory(program=acme, points_cost=10, title_en="Champs only", eligible_segments=["Champions"])
    for name, expected in (("alice", True), ("bob", False)):
        results = acme_api.get(f"/api/v1/rewards?customer={name}").json()["results"]
        assert [r["eligible"] for r in results] == [expected]


def test_body_idempotency_key_reused_for_another_grant_is_422(acme_api, alice, bob):
    # Given a grant to alice under a body idempotency_key
    first = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 100, "reason": "Bonus", "idempotency_key": "bk-1"},
        format="json",
    )
    replay = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 100, "reason": "Bonus", "idempotency_key": "bk-1"},
        format="json",
    )
    before = snapshot()

    # When the same key comes with another customer and other points
    reused = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "bob", "points": 999, "reason": "Bonus", "idempotency_key": "bk-1"},
        format="json",
    )

    # Then 422 as for the header, bob gets nothing, and the first grant replays unchanged
    assert first.status_code == 201
    assert (replay.status_code, replay.json(), replay["Idempotent-Replayed"]) == (201, first.json(), "true")
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert snapshot() == before
    assert (balance_of(alice), balance_of(bob)) == (100, 0)


def test_ledger_key_reused_for_another_customer_is_422_after_the_replay_record_is_gone(acme_api, alice, bob):
    from engagement.models import IdempotencyRecord

    acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 100, "reason": "Bonus", "idempotency_key": "bk-2"},
        format="json",
    )
    IdempotencyRecord.objects.all().delete()  # purged after IDEMPOTENCY_KEEP_HOURS
    before = snapshot()

    reused = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "bob", "points": 100, "reason": "Bonus", "idempotency_key": "bk-2"},
        format="json",
    )

    assert (reused.status_code, reused.json()["errors"][0]["attr"]) == (422, "idempotency_key")
    assert snapshot() == before
    assert balance_of(bob) == 0


def test_the_balance_endpoint_reads_the_customer_and_figures_in_one_statement(
    acme_api, acme, globex, alice, bob, django_assert_num_queries
):
    # Given alice with a tier, points expiring soon, pending points, and a globex customer
    # with her external id (never hers to see)
    expires_at = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    RewardsSettings.objects.update_or_create(program=acme, defaults={"expiry_rounding": ExpiryRounding.NONE})
    ledger.grant_points(customer=alice, points=120, reason="t", idempotency_key="e", expires_at=expires_at)
    ledger.grant_points(
        customer=alice, points=30, reason="t", idempotency_key="p", pending_until=timezone.now() + timedelta(days=2)
    )
    alice.tier = "Gold"
    alice.save(update_fields=["tier"])
    other = CustomerFactory(program=globex, external_id="carol")
    ledger.grant_points(customer=other, points=999, reason="t", idempotency_key="c")
    acme_api.get("/api/v1/customers/alice/balance")  # warm: the key cached, last_used_at written

    # When the endpoint is read once warm
    with django_assert_num_queries(1):
        response = acme_api.get("/api/v1/customers/alice/balance")

    # Then one statement answered the customer and every figure
    assert response.json() == {
        "customer": "alice",
        "balance": 120,
        "pending": 30,
        "held": 0,
        "expiring_soon": {"at": expires_at.isoformat().replace("+00:00", "Z"), "points": 120},
        "tier": "Gold",
        "points_name": acme.points_name,
    }
    # and the next customer's answer is all theirs (the output serializer is one per process)
    assert acme_api.get("/api/v1/customers/bob/balance").json() == {
        "customer": "bob",
        "balance": 0,
        "pending": 0,
        "held": 0,
        "expiring_soon": None,
        "tier": "",
        "points_name": acme.points_name,
    }
    # and another program's customer, or none, is the same 404 as before
    for external_id in ("carol", "nobody"):
        missing = acme_api.get(f"/api/v1/customers/{external_id}/balance")
        assert (missing.status_code, missing.json()["errors"]) == (
            404,
            [{"code": "not_found", "detail": f"No customer '{external_id}' in this program.", "attr": None}],
        )
