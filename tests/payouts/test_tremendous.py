"""The Tremendous adapter against a local Tremendous that enforces the documented request
shapes (tests/payouts/fakes/tremendous.py)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from payouts import processing, reconciliation
from payouts.models import Payout, PayoutAttempt, ProviderWebhookReceipt, Status, Step
from payouts.providers import get_provider, http
from payouts.providers.base import hmac_sha256_hex
from tests.payouts.factories import make_payout
from tests.payouts.fakes.tremendous import API_KEY, WEBHOOK_SECRET


def run_due(payout):
    """Process the payout once its next attempt is due."""
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        return processing.process_payout(payout.pk)


def test_order_succeeds_with_our_reference_as_external_id(funded_acme, alice, http_account, fake_provider, final_calls):
    payout = make_payout(alice, provider="tremendous")

    assert processing.process_payout(payout.pk) == "succeeded"

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert payout.provider_reference == "ORD0000001"
    assert payout.provider_status == "EXECUTED/SUCCEEDED"
    [(method, path, body)] = fake_provider.requests
    assert (method, path) == ("POST", "/orders")
    assert body == {
        "external_id": payout.reference,
        "payment": {"funding_source_id": "balance"},
        "reward": {
            "products": ["GRABMY00001"],
            "value": {"denomination": 25.0, "currency_code": "MYR"},
            "recipient": {"name": "Alice", "email": "alice@example.com"},
            "delivery": {"method": "EMAIL"},
        },
    }
    attempt = PayoutAttempt.objects.get(payout=payout)
    assert (attempt.kind, attempt.outcome, attempt.response_code) == ("create", "succeeded", 201)
    assert attempt.request["external_id"] == payout.reference
    assert attempt.request["reward"]["recipient"] == "***"  # destination never logged in clear
    assert final_calls == [(payout.pk, "succeeded")]


def test_transient_errors_then_success(funded_acme, alice, http_account, fake_provider, final_calls):
    fake_provider.transient_failures = 2
    payout = make_payout(alice, provider="tremendous")

    assert processing.process_payout(payout.pk) == "transient"
    assert run_due(payout) == "transient"
    assert run_due(payout) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (Status.SUCCEEDED, 3)
    assert (fake_provider.create_calls, fake_provider.orders_created) == (3, 1)
    assert list(PayoutAttempt.objects.filter(payout=payout).values_list("response_code", flat=True)) == [429, 429, 201]
    assert final_calls == [(payout.pk, "succeeded")]


def test_permanent_rejection_is_not_retried(funded_acme, alice, http_account, fake_provider, final_calls):
    fake_provider.insufficient_funds = True
    payout = make_payout(alice, provider="tremendous", source="redemption", source_ref="r-1")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (
        Status.FAILED,
        "HTTP 402: Insufficient funds in the funding source",
    )
    assert (fake_provider.create_calls, fake_provider.orders_created) == (1, 0)
    assert final_calls == [(payout.pk, "failed")]


def test_timeout_is_resolved_by_lookup_never_by_ordering_again(
    funded_acme, alice, http_account, fake_provider, final_calls, settings
):
    settings.PAYOUTS_HTTP_TIMEOUT_SECONDS = 0.5
    fake_provider.answer_delay = 2.0  # the provider places the order, we time out
    payout = make_payout(alice, provider="tremendous")

    assert processing.process_payout(payout.pk) == "unknown"
    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.LOOKUP)

    assert run_due(payout) == "succeeded"

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert (fake_provider.create_calls, fake_provider.orders_created, fake_provider.lookup_calls) == (1, 1, 1)
    assert payout.provider_reference == "ORD0000001"
    assert final_calls == [(payout.pk, "succeeded")]


def test_5xx_after_placing_is_unknown_and_resolved_by_lookup(funded_acme, alice, http_account, fake_provider):
    fake_provider.error_after_create = True
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "pending"

    payout.refresh_from_db()
    assert (payout.status, payout.step, payout.provider_reference) == (Status.PROCESSING, Step.WAIT, "ORD0000001")
    assert (fake_provider.create_calls, fake_provider.orders_created) == (1, 1)


def test_lookup_that_finds_nothing_resubmits_with_the_same_reference_later(
    funded_acme, alice, http_account, fake_provider, settings
):
    settings.PAYOUTS_UNKNOWN_RESUBMIT_SECONDS = 600
    settings.PAYOUTS_HTTP_TIMEOUT_SECONDS = 0.5
    payout = make_payout(alice, provider="tremendous")
    # Simulate a request lost on the way: unknown, but the provider never saw it.
    token = processing.claim(payout.pk, payout.next_attempt_at)[1]
    from payouts.providers.base import ProviderResult

    processing.apply_result(payout.pk, token, "create", ProviderResult("unknown", error="timeout"))
    assert run_due(payout) == "not_found"
    payout.refresh_from_db()
    assert payout.step == Step.LOOKUP

    with time_machine.travel(payout.unknown_since + timedelta(minutes=11)):
        assert processing.process_payout(payout.pk) == "not_found"
        payout.refresh_from_db()
        assert payout.step == Step.SUBMIT
        assert processing.process_payout(payout.pk) == "succeeded"

    assert (fake_provider.create_calls, fake_provider.orders_created) == (1, 1)
    assert [o["external_id"] for o in fake_provider.orders.values()] == [payout.reference]


def test_signed_webhook_completes_a_waiting_payout(
    funded_acme, alice, http_account, fake_provider, final_calls, client
):
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")
    assert processing.process_payout(payout.pk) == "pending"
    fake_provider.set_delivery(payout.reference, "SUCCEEDED")
    body, headers = fake_provider.webhook(payout.reference, event_id="evt-1")
    url = reverse("payout-provider-webhook", args=["tremendous", "acme"])

    response = client.post(url, body, content_type="application/json", headers=headers)

    assert (response.status_code, response.json()) == (200, {"results": ["succeeded"]})
    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert final_calls == [(payout.pk, "succeeded")]
    # The same event again changes nothing.
    again = client.post(url, body, content_type="application/json", headers=headers)
    assert again.json() == {"results": ["duplicate"]}
    assert final_calls == [(payout.pk, "succeeded")]


def test_webhook_with_bad_signature_is_rejected_and_changes_nothing(
    funded_acme, alice, http_account, fake_provider, final_calls, client
):
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")
    processing.process_payout(payout.pk)
    url = reverse("payout-provider-webhook", args=["tremendous", "acme"])
    fake_provider.set_delivery(payout.reference, "FAILED")
    body, _ = fake_provider.webhook(payout.reference, "REWARDS.DELIVERY.FAILED")
    _, wrong = fake_provider.webhook(payout.reference, "REWARDS.DELIVERY.FAILED", secret="not-the-secret")
    tampered_body, headers = fake_provider.webhook(payout.reference, event_id="e")
    tampered = tampered_body.replace(b"RWD", b"RWX")

    assert client.post(url, body, content_type="application/json", headers=wrong).status_code == 400
    assert client.post(url, body, content_type="application/json").status_code == 400
    assert client.post(url, tampered, content_type="application/json", headers=headers).status_code == 400

    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.WAIT)
    assert final_calls == []
    assert Payout.objects.get(pk=payout.pk).provider_attempts.count() == 1


# --- What the adapter sends for each method ------------------------------------------------


def test_a_voucher_is_delivered_as_a_link(funded_acme, alice, http_account, fake_provider):
    payout = make_payout(alice, method="voucher", provider="tremendous", destination={"email": "alice@example.com"})

    assert processing.process_payout(payout.pk) == "succeeded"

    [(_, _, body)] = fake_provider.requests
    assert body["reward"]["delivery"] == {"method": "LINK"}
    assert body["reward"]["products"] == ["GRABMY00001"]  # the account's gift-card product


def test_paypal_uses_the_accounts_paypal_product_and_never_sends_our_destination_details(
    funded_acme, alice, http_account, fake_provider
):
    payout = make_payout(alice, method="paypal", provider="tremendous")

    assert processing.process_payout(payout.pk) == "succeeded"

    [(_, _, body)] = fake_provider.requests
    assert body["reward"]["products"] == ["KV934TZ93NQM"]
    assert body["reward"]["recipient"] == {"name": "Alice", "email": "alice@example.com"}


def test_a_campaign_lets_the_recipient_choose(funded_acme, alice, http_account, fake_provider):
    http_account.options = {"campaign_id": "CAMPAIGN01"}
    http_account.save()
    payout = make_payout(alice, provider="tremendous", destination={"email": "alice@example.com"})

    assert processing.process_payout(payout.pk) == "succeeded"

    [(_, _, body)] = fake_provider.requests
    assert body["reward"]["campaign_id"] == "CAMPAIGN01"
    assert "products" not in body["reward"]


@pytest.mark.parametrize(
    ("method", "reason"),
    [
        ("upi", "Tremendous offers no UPI payouts."),
        ("bank_transfer", "No Tremendous product is set up for bank_transfer payouts (provider account options)."),
    ],
)
def test_a_method_tremendous_cannot_pay_fails_without_calling_it(
    funded_acme, alice, http_account, fake_provider, final_calls, method, reason
):
    payout = make_payout(alice, method=method, provider="tremendous")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (Status.FAILED, reason)
    assert fake_provider.requests == []
    assert final_calls == [(payout.pk, "failed")]


# --- The fake is as strict as the documentation ---------------------------------------------


@pytest.mark.parametrize(
    ("reward_change", "message"),
    [
        ({"value": {"denomination": "25.00", "currency_code": "MYR"}}, "value.denomination must be a positive number"),
        ({"payout_details": {"iban": "x"}}, "Unknown parameters: reward.payout_details"),
        ({"products": ["GIFT_CARD"]}, "products contains an unknown product id"),
        ({"value": {"denomination": 25, "currency_code": "USD"}}, "Grab is not available in USD"),
        ({"value": {"denomination": 5000, "currency_code": "MYR"}}, "Grab does not allow 5000"),
    ],
)
def test_the_local_tremendous_refuses_what_the_real_one_refuses(fake_provider, reward_change, message):
    # The request the first-wave adapter sent (string denomination, "GIFT_CARD", payout_details)
    # is refused here, as the real API refuses it.
    reward = {
        "products": ["GRABMY00001"],
        "value": {"denomination": 25, "currency_code": "MYR"},
        "recipient": {"name": "Alice", "email": "alice@example.com"},
        "delivery": {"method": "EMAIL"},
        **reward_change,
    }
    body = {"external_id": "x-1", "payment": {"funding_source_id": "balance"}, "reward": reward}

    reply = http.call("POST", fake_provider.url + "/orders", body, headers={"Authorization": f"Bearer {API_KEY}"})

    assert (reply.code, reply.data["errors"]["message"]) == (400, message)
    assert fake_provider.orders == {}


def test_same_external_id_with_other_parameters_is_a_conflict_resolved_by_lookup(
    funded_acme, alice, http_account, fake_provider
):
    payout = make_payout(alice, provider="tremendous")
    assert processing.process_payout(payout.pk) == "succeeded"
    body = {**fake_provider.bodies[payout.reference]}
    body["reward"] = {**body["reward"], "value": {"denomination": 30, "currency_code": "MYR"}}

    reply = http.call("POST", fake_provider.url + "/orders", body, headers={"Authorization": f"Bearer {API_KEY}"})

    assert reply.code == 409
    assert fake_provider.orders_created == 1


# --- Webhooks point at a resource: the adapter reads it ----------------------------------------


def test_a_webhook_about_something_else_is_acknowledged_and_changes_nothing(
    funded_acme, alice, http_account, fake_provider, client
):
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")
    processing.process_payout(payout.pk)
    body = json.dumps(
        {
            "event": "FUNDING_SOURCES.FUNDED",
            "uuid": "evt-f",
            "payload": {"resource": {"id": "F1", "type": "funding_sources"}},
        }
    ).encode()
    headers = {"Tremendous-Webhook-Signature": "sha256=" + hmac_sha256_hex(WEBHOOK_SECRET, body)}
    url = reverse("payout-provider-webhook", args=["tremendous", "acme"])

    response = client.post(url, body, content_type="application/json", headers=headers)

    assert (response.status_code, response.json()) == (200, {"results": []})
    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.WAIT)


def test_a_webhook_whose_reward_cannot_be_read_now_is_answered_503_and_applied_when_redelivered(
    funded_acme, alice, http_account, fake_provider, final_calls, client
):
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")
    processing.process_payout(payout.pk)
    fake_provider.set_delivery(payout.reference, "SUCCEEDED")
    body, headers = fake_provider.webhook(payout.reference, event_id="evt-503")
    url = reverse("payout-provider-webhook", args=["tremendous", "acme"])
    real_key = http_account.api_key
    http_account.api_key = "revoked"  # the lookup is refused (401): nothing can be learnt now
    http_account.save()

    response = client.post(url, body, content_type="application/json", headers=headers)

    assert response.status_code == 503
    payout.refresh_from_db()
    assert payout.status == Status.PROCESSING
    assert ProviderWebhookReceipt.objects.count() == 0
    http_account.api_key = real_key
    http_account.save()
    again = client.post(url, body, content_type="application/json", headers=headers)
    assert (again.status_code, again.json()) == (200, {"results": ["succeeded"]})
    assert final_calls == [(payout.pk, "succeeded")]


# --- Statement and catalogue -----------------------------------------------------------------


def test_reconciliation_against_the_tremendous_statement(funded_acme, alice, bob, http_account, fake_provider):
    # Given two payouts placed at Tremendous, and an order placed on its dashboard (no external_id)
    first = make_payout(alice, provider="tremendous")
    second = make_payout(bob, provider="tremendous", amount="40.00")
    assert processing.process_payout(first.pk) == "succeeded"
    assert processing.process_payout(second.pk) == "succeeded"
    dashboard = fake_provider._place(
        {
            "payment": {"funding_source_id": "balance"},
            "reward": {
                "products": ["GRABMY00001"],
                "value": {"denomination": 15, "currency_code": "MYR"},
                "recipient": {"name": "Staff", "email": "staff@example.com"},
            },
        }
    )
    # and Tremendous recorded the second at another amount
    fake_provider.order_by_external_id(second.reference)["rewards"][0]["value"]["denomination"] = 45
    now = timezone.now()

    run = reconciliation.reconcile(funded_acme, "tremendous", now - timedelta(days=1), now + timedelta(minutes=1))

    assert run.matched == 1
    assert sorted((m["kind"], m["reference"]) for m in run.mismatches) == [
        ("amount", second.reference),
        ("unknown_to_us", f"tremendous:{dashboard['id']}"),
    ]
    [(_, path, _)] = [r for r in fake_provider.requests if r[0] == "GET"]
    assert path == "/orders"


def test_statement_leaves_out_orders_at_the_end_which_tremendous_includes(
    funded_acme, alice, http_account, fake_provider
):
    # created_at[lte] is inclusive at Tremendous; a period [start, end) must not count `end`.
    end = timezone.now().replace(microsecond=0)
    fake_provider.created_at = end
    payout = make_payout(alice, provider="tremendous")
    processing.process_payout(payout.pk)
    adapter = get_provider(funded_acme, "tremendous")

    assert adapter.statement(end - timedelta(days=1), end) == []
    [line] = adapter.statement(end - timedelta(days=1), end + timedelta(seconds=1))
    assert (line.reference, line.amount, line.currency, line.created_at) == (
        payout.reference,
        Decimal("25.00"),
        "MYR",
        end,
    )


def test_products_are_listed_with_their_filters(acme, http_account, fake_provider):
    adapter = get_provider(acme, "tremendous")

    assert [p["id"] for p in adapter.products()] == ["OKMHM2X2OHYV", "GRABMY00001", "KV934TZ93NQM"]
    assert [p["id"] for p in adapter.products(country="MY", currency="MYR")] == ["GRABMY00001", "KV934TZ93NQM"]
    grab = adapter.products(country="MY")[0]
    assert (grab["skus"], grab["usage_instructions"]) == (
        [{"min": 10, "max": 500}],
        "Add the code in the Grab app under Payment.",
    )


def test_a_base_url_on_loopback_is_refused_at_each_call_when_the_switch_is_off(
    funded_acme, alice, http_account, fake_provider, settings
):
    # Given an account whose base URL points at an inner address (saved earlier, or re-pointed)
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = False
    payout = make_payout(alice, provider="tremendous")

    # When the payout is processed
    processing.process_payout(payout.pk)

    # Then nothing reached the address and the attempt says why (retried, not placed)
    attempt = PayoutAttempt.objects.get(payout=payout)
    assert (fake_provider.requests, fake_provider.orders) == ([], {})
    assert (attempt.kind, attempt.outcome, attempt.error) == ("create", "transient", "connection: address not allowed")
