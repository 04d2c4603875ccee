"""Promotion codes: pools generated in the database, imports, validation without use,
caps, windows and eligibility, and the admin pages."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from engagement.models import CustomerScore
from rewards import ledger
from rewards.checkout import pools
from rewards.checkout.models import CodePool, PromotionCode
from tests.checkout.conftest import cart, line, make_promotion

pytestmark = pytest.mark.django_db


def make_pool(promotion, **fields):
    fields = {"name": "Batch", "prefix": "SPR-", "length": 8, "count": 50_000, **fields}
    return CodePool.objects.create(program=promotion.program, promotion=promotion, **fields)


def test_a_pool_gets_exactly_its_count_of_distinct_codes_of_the_pattern(acme):
    promotion = make_promotion(acme, code=None)
    pool = make_pool(promotion, alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", uses_per_code=1)

    assert pools.generate_codes(pool.pk) == 50_000
    assert pools.generate_codes(pool.pk) == 50_000  # a rerun adds nothing

    codes = list(PromotionCode.objects.filter(pool=pool).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 50_000
    assert all(re.fullmatch(r"SPR-[A-HJ-NP-Z2-9]{8}", code) for code in codes)
    pool.refresh_from_db()
    assert (pool.status, pool.generated) == ("ready", 50_000)
    # Characters are spread over the whole alphabet (not one code repeated with a suffix).
    assert len({code[4] for code in codes}) == 32


def test_a_pattern_too_small_for_its_count_is_refused():
    with pytest.raises(ValidationError):
        pools.check_pattern("AB", 4, 1)  # 16 combinations
    pools.check_pattern("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 8, 1_000_000)


def test_an_import_preview_names_every_line_and_writes_nothing(acme):
    make_promotion(acme, code="TAKEN")
    text = 'code\r\nnew-1\r\n\r\n taken \r\n"NEW-1",x\r\nno space\r\nNEW-2\r\n'
    preview = pools.preview_import(acme.pk, text)
    assert (preview.codes, preview.duplicates, preview.existing) == (
        [(2, "NEW-1"), (7, "NEW-2")], [(5, "NEW-1", 2)], [(4, "TAKEN")]
    )  # fmt: skip
    assert [(line, text) for line, text, _reason in preview.invalid] == [(6, "no space")]
    assert not preview.ok and PromotionCode.objects.count() == 1
    assert pools.preview_import(acme.pk, "A-1\nB-2\n").ok


def test_get_code_validates_without_using(acme, acme_api, alice, globex):
    make_promotion(acme, code="SPRING10", max_uses=5, max_uses_per_customer=1, title_ar="تخفيضات الربيع")
    make_promotion(acme, "Later", code="LATER", starts_at=timezone.now() + timedelta(days=1))
    make_promotion(globex, "Theirs", code="GLOBEX1")
    response = acme_api.get("/api/v1/codes/spring10")
    assert response.status_code == 200
    assert {k: response.data[k] for k in ("code", "valid", "reason", "uses", "max_uses", "kind", "value")} == {
        "code": "SPRING10", "valid": True, "reason": None, "uses": 0, "max_uses": 5, "kind": "percent",
        "value": "10.00",
    }  # fmt: skip
    later = acme_api.get("/api/v1/codes/LATER").data
    assert (later["valid"], later["reason"]) == (False, "not_started")
    assert acme_api.get("/api/v1/codes/GLOBEX1").status_code == 404
    assert acme_api.get("/api/v1/codes/NOPE").data["errors"][0] == {
        "code": "not_found", "detail": "No such code.", "attr": "code"
    }  # fmt: skip
    assert PromotionCode.objects.get(code="SPRING10").uses == 0


def test_per_customer_cap_counts_paid_and_held_orders(acme, acme_api, alice):
    make_promotion(acme, code="MULTI", max_uses=0, max_uses_per_customer=1)
    first = acme_api.post("/api/v1/checkout/reservations", cart("alice", line("A", "20.00"), codes=["MULTI"],
                          order_id="o-1"), format="json")  # fmt: skip
    assert first.status_code == 201
    second = acme_api.post("/api/v1/checkout/reservations", cart("alice", line("A", "20.00"), codes=["MULTI"],
                           order_id="o-2"), format="json")  # fmt: skip
    assert (second.status_code, second.data["errors"][0]["code"]) == (409, "customer_limit")
    assert acme_api.get("/api/v1/codes/MULTI?customer=alice").data["reason"] == "customer_limit"
    acme_api.post(f"/api/v1/checkout/reservations/{first.data['id']}/cancel")
    assert acme_api.get("/api/v1/codes/MULTI?customer=alice").data["valid"] is True


def test_eligibility_by_tier_segment_sku_and_points(acme, acme_api, alice):
    ledger.grant_points(customer=alice, points=5000, reason="seed", idempotency_key="seed")
    make_promotion(acme, "Gold", code="GOLD", eligible_tiers=["Gold"])
    make_promotion(acme, "Champions", code="CHAMP", eligible_segments=["Champions"])
    make_promotion(acme, "Shoes", code="SHOES", eligible_skus=["RUN-9"], allow_points=False)
    CustomerScore.objects.create(program=acme, customer=alice, segment="Champions", scored_at=timezone.now())
    body = cart("alice", line("HAT", "40.00"), codes=["GOLD", "CHAMP", "SHOES"])
    data = acme_api.post("/api/v1/checkout/evaluate", body, format="json").data
    assert [(r["code"], r["reason"]) for r in data["refused_codes"]] == [
        ("GOLD", "tier_not_eligible"), ("SHOES", "no_eligible_lines")
    ]  # fmt: skip
    assert [(d["code"], d["amount"]) for d in data["discounts"]] == [("CHAMP", "4.00")]
    shoes = acme_api.post("/api/v1/checkout/evaluate", cart("alice", line("RUN-9", "40.00"), codes=["SHOES"]),
                          format="json").data  # fmt: skip
    assert (shoes["points"]["max_spendable"], shoes["points"]["limited_by"]) == (0, "promotion")
    assert shoes["total"] == "36.00" and Decimal(shoes["discount_total"]) == Decimal("4")
