"""GET /api/v1/customers/{id}/engagement in one statement (engagement.metrics.customer_engagement):
the exact answer with and without a score, a fit and event counts, and the errors in the
same order as before (an unknown customer before a bad as_of)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from engagement.models import Customer, CustomerEventCount, CustomerModelValue, CustomerScore, PurchaseModelFit

T0 = datetime(2026, 3, 2, 3, 0, 12, 345678, tzinfo=UTC)
URL = "/api/v1/customers/{}/engagement"
NO_MODEL = dict.fromkeys(("p_alive", "expected_purchases_90d", "expected_purchases_365d", "expected_spend"), None)


def scored(alice, acme):
    Customer.objects.filter(pk=alice.pk).update(
        last_seen_at=T0, event_count=7, purchase_count=2, revenue=Decimal("12.50")
    )
    CustomerScore.objects.create(
        customer=alice,
        program=acme,
        engagement_score=Decimal("42.10"),
        r_score=3,
        f_score=4,
        segment="Champions",
        churn_risk=Decimal("0.125"),
        scored_at=T0,
    )
    CustomerEventCount.objects.create(customer=alice, type="purchase", count=2, last_at=T0)
    CustomerEventCount.objects.create(customer=alice, type="app_open", count=5, last_at=T0 - timedelta(hours=1))


def test_the_answer_is_one_query_once_the_key_is_cached(acme, alice, acme_api, django_assert_num_queries):
    scored(alice, acme)
    assert acme_api.get(URL.format("alice")).status_code == 200  # reads the partner key once

    with django_assert_num_queries(1):
        body = acme_api.get(URL.format("alice")).json()

    assert body == {
        "churn_risk": "0.125",
        "churn_risk_method": "rule",
        **NO_MODEL,
        "predicted_clv": None,
        "as_of": None,
        "currency": "MYR",
        "customer": "alice",
        "engagement_score": "42.10",
        "r_score": 3,
        "f_score": 4,
        "m_score": None,
        "segment": "Champions",
        "scored_at": "2026-03-02T03:00:12.345678+00:00",
        "last_activity_at": "2026-03-02T03:00:12.345678+00:00",
        "event_count": 7,
        "purchase_count": 2,
        "revenue": "12.50",
        "channels": {
            "app_open": {"count": 5, "last_at": "2026-03-02T02:00:12.345678+00:00"},
            "purchase": {"count": 2, "last_at": "2026-03-02T03:00:12.345678+00:00"},
        },
    }


def test_a_customer_with_nothing_yet(acme, bob, acme_api, django_assert_num_queries):
    acme_api.get(URL.format("bob"))
    with django_assert_num_queries(1):
        body = acme_api.get(URL.format("bob")).json()

    assert {k: body[k] for k in ("churn_risk", "churn_risk_method", "engagement_score", "segment", "channels")} == {
        "churn_risk": None,
        "churn_risk_method": None,
        "engagement_score": None,
        "segment": None,
        "channels": {},
    }
    assert (body["last_activity_at"], body["event_count"], body["revenue"]) == (None, 0, "0.00")


def test_the_latest_usable_fit_or_the_one_of_as_of_in_one_query(acme, alice, bob, acme_api, django_assert_num_queries):
    scored(alice, acme)
    july = PurchaseModelFit.objects.create(program=acme, kind="bgnbd", as_of=date(2025, 7, 1), usable=True)
    PurchaseModelFit.objects.create(program=acme, kind="bgnbd", as_of=date(2025, 8, 1), usable=False)
    june = PurchaseModelFit.objects.create(program=acme, kind="bgnbd", as_of=date(2025, 6, 1), usable=True)
    values = {"repeat_transactions": 1, "expected_purchases_90d": 1.0, "expected_purchases_365d": 3.14159}
    CustomerModelValue.objects.create(
        fit=july, customer=alice, p_alive=0.98765, expected_spend=Decimal("20.00"), churn_risk="0.100", **values
    )
    CustomerModelValue.objects.create(
        fit=june, customer=alice, p_alive=0.5, predicted_clv=Decimal("100.10"), churn_risk="0.200", **values
    )
    acme_api.get(URL.format("alice"))

    with django_assert_num_queries(1):
        latest = acme_api.get(URL.format("alice")).json()
    with django_assert_num_queries(1):
        dated = acme_api.get(URL.format("alice") + "?as_of=2025-06-01").json()
    rule_under_a_fit = acme_api.get(URL.format("bob") + "?as_of=2025-06-01").json()

    model = ("churn_risk", "churn_risk_method", "p_alive", "expected_purchases_365d", "expected_spend")
    assert [latest[k] for k in (*model, "predicted_clv", "as_of")] == [
        "0.100", "model", "0.988", "3.142", "20.00", None, "2025-07-01"
    ]  # fmt: skip
    assert [dated[k] for k in (*model, "predicted_clv", "as_of")] == [
        "0.200", "model", "0.500", "3.142", None, "100.10", "2025-06-01"
    ]  # fmt: skip
    assert [rule_under_a_fit[k] for k in ("churn_risk", "churn_risk_method", "as_of")] == [None, None, None]


def test_errors_keep_their_order_and_shape(acme, alice, globex, acme_api, partner_client):
    PurchaseModelFit.objects.create(program=acme, kind="bgnbd", as_of=date(2025, 8, 1), usable=False)

    def error(client, url):
        response = client.get(url)
        return response.status_code, response.json()["errors"][0]

    not_found = {"code": "not_found", "detail": "No customer 'nobody' in this program.", "attr": None}
    assert error(acme_api, URL.format("nobody")) == (404, not_found)
    assert error(acme_api, URL.format("nobody") + "?as_of=2025-02-30") == (404, not_found)
    assert error(acme_api, URL.format("alice") + "?as_of=2025-02-30") == (
        400,
        {"code": "invalid", "detail": "as_of must be a date (YYYY-MM-DD).", "attr": "as_of"},
    )
    assert error(acme_api, URL.format("alice") + "?as_of=2025-08-01") == (
        404,
        {"code": "unknown_fit", "detail": "No usable model fit as of 2025-08-01.", "attr": "as_of"},
    )
    assert error(partner_client(globex), URL.format("alice"))[0] == 404  # another program's customer
