import pytest

from payouts.models import Payout, Status
from tests.payouts.factories import make_payout

BODY = {
    "customer": "alice",
    "amount": "25.00",
    "method": "paypal",
    "destination": {"email": "alice@example.com"},
    "source_ref": "order-9",
}


def test_create_payout_is_idempotent(funded_acme, alice, acme_api):
    first = acme_api.post("/api/v1/payouts", BODY, format="json", headers={"Idempotency-Key": "k1"})
    again = acme_api.post("/api/v1/payouts", BODY, format="json", headers={"Idempotency-Key": "k1"})

    assert first.status_code == 201
    payout = Payout.objects.get()
    assert first.json() == {
        "id": payout.pk,
        "reference": payout.reference,
        "customer": "alice",
        "amount": "25.00",
        "currency": "MYR",
        "method": "paypal",
        "destination": {"email": "a***@example.com"},
        "provider": "sandbox",
        "provider_reference": "",
        "source": "api",
        "source_ref": "order-9",
        "status": "queued",
        "hold": "",
        "hold_detail": "",
        "status_reason": "",
        "created_at": first.json()["created_at"],
        "updated_at": first.json()["updated_at"],
        "completed_at": None,
    }
    assert (again.status_code, again.json()["id"], again.headers["Idempotent-Replayed"]) == (201, payout.pk, "true")
    assert Payout.objects.count() == 1


def test_create_requires_an_idempotency_key(funded_acme, alice, acme_api):
    response = acme_api.post("/api/v1/payouts", BODY, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "required", "detail": "Idempotency-Key header is required.", "attr": "Idempotency-Key"}
    ]
    assert Payout.objects.count() == 0


def test_invalid_destination_is_a_400_naming_the_field(funded_acme, alice, acme_api):
    body = {**BODY, "method": "upi", "destination": {"vpa": "nope"}}
    response = acme_api.post("/api/v1/payouts", body, format="json", headers={"Idempotency-Key": "k2"})

    assert response.status_code == 400
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "invalid", "detail": "Enter a UPI address such as name@bank.", "attr": "destination.vpa"}],
    }
    assert Payout.objects.count() == 0


def test_unknown_customer_is_404(funded_acme, acme_api):
    response = acme_api.post(
        "/api/v1/payouts", {**BODY, "customer": "nobody"}, format="json", headers={"Idempotency-Key": "k3"}
    )
    assert response.status_code == 404
    assert Payout.objects.count() == 0


def test_read_own_payout_and_404_for_another_programs(funded_acme, alice, acme_api, globex, partner_client):
    payout = make_payout(alice)

    assert acme_api.get(f"/api/v1/payouts/{payout.pk}").json()["reference"] == payout.reference
    assert partner_client(globex).get(f"/api/v1/payouts/{payout.pk}").status_code == 404
    assert partner_client(globex).get("/api/v1/payouts").json()["count"] == 0


def test_list_filters(funded_acme, alice, bob, acme_api):
    gift = make_payout(alice, method="gift_card")
    upi = make_payout(bob, method="upi")
    from payouts import services

    services.cancel_payout(upi.pk, reason="test")

    def ids(query):
        response = acme_api.get("/api/v1/payouts" + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [upi.pk, gift.pk]
    assert ids("?status=cancelled") == [upi.pk]
    assert ids("?method=gift_card") == [gift.pk]
    assert ids("?customer=bob") == [upi.pk]
    assert ids("?created_after=2000-01-01T00:00:00Z&created_before=2100-01-01T00:00:00Z") == [upi.pk, gift.pk]
    assert ids("?created_before=2000-01-01T00:00:00Z") == []
    assert acme_api.get("/api/v1/payouts?status=lost").status_code == 400
    assert Payout.objects.get(pk=gift.pk).status == Status.QUEUED


def test_a_currency_that_is_not_iso_4217_is_a_400_and_stores_nothing(funded_acme, alice, acme_api):
    responses = [
        acme_api.post("/api/v1/payouts", {**BODY, "currency": code}, format="json", headers={"Idempotency-Key": code})
        for code in ("ZZZ", "XXX", "DEM", "myr")
    ]

    assert [r.status_code for r in responses] == [400, 400, 400, 400]
    assert [[(e["code"], e["attr"]) for e in r.json()["errors"]] for r in responses] == [
        [("invalid_currency", "currency")]
    ] * 4
    assert responses[0].json()["errors"][0]["detail"] == "ZZZ is not an ISO 4217 currency code."
    assert Payout.objects.count() == 0


def test_the_service_refuses_a_made_up_currency_too(funded_acme, alice):
    from payouts.services import PayoutError

    with pytest.raises(PayoutError) as refused:
        make_payout(alice, currency="ZZZ")

    assert (refused.value.attr, Payout.objects.count()) == ("currency", 0)
