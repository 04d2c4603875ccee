"""Cart evaluation through the API: earning rules, discounts, spendable points, bad input."""

from decimal import Decimal

import pytest
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.processing import process_events
from rewards import ledger
from rewards.checkout.models import CheckoutSettings, CodeUse, Promotion, PromotionCode, Reservation
from rewards.models import LedgerEntry, PointsAccount
from tests.checkout.conftest import cart, line, make_promotion
from tests.factories import ProgramFactory
from tests.rewards.factories import make_tiers

pytestmark = pytest.mark.django_db

URL = "/api/v1/checkout/evaluate"


def evaluate(api, body):
    return api.post(URL, body, format="json")


def test_rules_pick_the_most_specific_match_and_sum_floored_lines(acme_api, alice, rules):
    # Given shoes x2 (category), clearance x0.5 (tag), TEE-1 x3 (SKU), gift cards excluded
    body = cart(
        "alice",
        line("RUN-9", "120.50", 1, "shoes"),  # 241
        line("RUN-8", "99.99", 2, "shoes", ["clearance"]),  # tag wins: 199.98 x 0.5 = 99.99 -> 99
        line("TEE-1", "10.00", 1, "shoes"),  # SKU wins: 30
        line("GC-50", "50.00", 1, "gift-cards"),  # excluded: 0
        line("UNKNOWN", "5.55", 1),  # no rule: base rate, 5
    )
    response = evaluate(acme_api, body)

    assert response.status_code == 200, response.data
    data = response.data
    assert [(x["points"], x["earning_multiplier"], x["excluded"]) for x in data["lines"]] == [
        (241, "2.00", False), (99, "0.50", False), (30, "3.00", False), (0, "0", True), (5, "1", False),
    ]  # fmt: skip
    assert data["points"]["earned"] == 375
    assert (data["subtotal"], data["discount_total"], data["total"]) == ("386.03", "0.00", "386.03")
    assert data["discounts"] == [] and data["refused_codes"] == []


def test_preview_and_the_purchase_event_earn_the_same(acme, acme_api, alice, rules):
    # Given a gold customer (x1.5) and a cart with a 10 % order code
    make_tiers(acme)
    from rewards.models import CustomerTier, Tier

    CustomerTier.objects.create(program=acme, customer=alice, tier=Tier.objects.get(program=acme, name="Gold"))
    make_promotion(acme, code="SPRING10")
    body = cart(
        "alice", line("RUN-9", "120.55", 1, "shoes"), line("CAP-1", "19.90", 3, "hats", ["clearance"]),
        line("GC-50", "50.00", 1, "gift-cards"), codes=["spring10"],
    )  # fmt: skip
    preview = evaluate(acme_api, body).data
    assert preview["discount_total"] == "23.02"  # 10 % of 230.25, rounded down to the cent

    # When the shop sends the purchase with the lines as evaluation returned them
    lines = [
        {k: item[k] for k in ("sku", "category", "quantity", "unit_price", "tags", "discount")}
        for item in preview["lines"]
    ]
    event = CleanEvent(
        event_id="p-1", type="purchase", customer="alice", occurred_at=timezone.now(), value=Decimal(preview["total"]),
        currency="MYR", properties={"order_id": "o-1", "lines": lines},
    )  # fmt: skip
    process_events(record_events(acme, [event], enqueue=False).event_ids)

    # Then the earn entry holds exactly the points the preview promised
    earned = LedgerEntry.objects.get(customer=alice, kind="earn", source_id="o-1")
    assert preview["points"]["earned"] == earned.pending_points == 365
    assert Reservation.objects.count() == CodeUse.objects.count() == 0  # evaluation wrote nothing


def test_spendable_points_follow_balance_share_cap_and_step(acme, acme_api, alice):
    ledger.grant_points(customer=alice, points=5000, reason="seed", idempotency_key="seed")
    settings = CheckoutSettings.get_for(acme)
    body = cart("alice", line("A", "35.00"))
    assert evaluate(acme_api, body).data["points"] == {
        "earned": 35, "balance": 5000, "held": 0, "max_spendable": 3500, "max_spendable_value": "35.00",
        "limited_by": "order_value",
    }  # fmt: skip
    settings.max_order_share_percent, settings.points_step = 50, 100
    settings.save()
    points = evaluate(acme_api, cart("alice", line("A", "35.00"))).data["points"]
    assert (points["max_spendable"], points["max_spendable_value"]) == (1700, "17.00")
    settings.max_points_per_order, settings.min_points_per_order = 1000, 0
    settings.save()
    assert evaluate(acme_api, body).data["points"]["limited_by"] == "max_per_order"
    settings.min_points_per_order = 6000
    settings.save()
    points = evaluate(acme_api, body).data["points"]
    assert (points["max_spendable"], points["limited_by"]) == (0, "min_per_order")


def test_line_and_order_discounts_with_reasons_and_refusals(acme, acme_api, alice, globex):
    make_promotion(acme, "Shoes", "SHOES5", kind="amount", value=Decimal("5"), level="line",
                   eligible_categories=["shoes"], stackable=True)  # fmt: skip
    make_promotion(acme, "Big", "BIG20", kind="percent", value=Decimal("20"), stackable=True, title_ms="Jualan besar")
    make_promotion(acme, "Solo", "SOLO", stackable=False)
    make_promotion(acme, "Old", "OLD", ends_at=timezone.now())
    make_promotion(acme, "Min", "MIN", min_order_value=Decimal("1000"))
    make_promotion(globex, "Theirs", "GLOBEX1")
    used = make_promotion(acme, "Used", "USED")
    PromotionCode.objects.filter(promotion=used).update(uses=1)
    alice.locale = "ms"
    alice.save()
    body = cart(
        "alice", line("RUN-9", "100.00", 2, "shoes"), line("HAT", "10.00", 1, "hats"),
        codes=["SHOES5", "BIG20", "SOLO", "OLD", "MIN", "GLOBEX1", "USED", "NOPE", "BIG20"],
    )  # fmt: skip
    data = evaluate(acme_api, body).data

    # Shoes: 5 off the shoe line; then 20 % of what is left (205.00) over both lines
    assert [(d["code"], d["amount"], d["reason"], d["lines"], d["level"]) for d in data["discounts"]] == [
        ("SHOES5", "5.00", "Shoes sale", [0], "line"),
        ("BIG20", "41.00", "Jualan besar", [0, 1], "order"),
    ]
    assert [(x["discount"], x["net"]) for x in data["lines"]] == [("44.00", "156.00"), ("2.00", "8.00")]
    assert [(r["index"], r["code"], r["reason"]) for r in data["refused_codes"]] == [
        (2, "SOLO", "not_stackable"), (3, "OLD", "expired"), (4, "MIN", "min_order_value"),
        (5, "GLOBEX1", "not_found"), (6, "USED", "exhausted"), (7, "NOPE", "not_found"), (8, "BIG20", "duplicate"),
    ]  # fmt: skip
    assert Promotion.objects.filter(uses__gt=0).count() == 0


@pytest.mark.parametrize(
    ("change", "status", "code", "attr"),
    [
        ({"lines": [line("A", "1.00", 0)]}, 400, "min_value", "lines.0.quantity"),
        ({"lines": [line("A", "1.00", -2)]}, 400, "min_value", "lines.0.quantity"),
        ({"lines": [line("A", "1.00"), line("B", "1.005")]}, 400, "max_decimal_places", "lines.1.unit_price"),
        ({"lines": [line("A", "-1.00")]}, 400, "min_value", "lines.0.unit_price"),
        ({"lines": []}, 400, "min_length", "lines"),
        ({"currency": "USD"}, 400, "currency_mismatch", "currency"),
        ({"currency": "usd"}, 400, "invalid", "currency"),
        ({"customer": "nobody"}, 404, "not_found", "customer"),
        ({"codes": "SPRING"}, 400, "not_a_list", "codes"),
    ],
)
def test_bad_carts_are_clear_4xx(acme_api, alice, change, status, code, attr):
    body = {**cart("alice", line("A", "1.00")), **change}
    response = evaluate(acme_api, body)
    assert response.status_code == status
    assert response.data["errors"][0]["code"] == code
    assert response.data["errors"][0]["attr"] == attr


def test_currency_places_follow_the_currency(db):
    from tests.conftest import make_partner_client
    from tests.factories import CustomerFactory

    yen = ProgramFactory(slug="yen", currency="JPY")
    CustomerFactory(program=yen, external_id="kenji")
    api = make_partner_client(yen)
    refused = evaluate(api, cart("kenji", line("A", "100.5"), currency="JPY"))
    assert (refused.status_code, refused.data["errors"][0]["code"]) == (400, "max_decimal_places")
    accepted = evaluate(api, cart("kenji", line("A", "100"), currency="JPY"))
    assert (accepted.status_code, accepted.data["total"]) == (200, "100")
    assert PointsAccount.objects.filter(customer__program=yen).count() == 0
