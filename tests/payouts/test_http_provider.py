"""The Tremendous-style adapter against a local HTTP provider (tests/payouts/fake_provider)."""

from datetime import timedelta

import time_machine
from django.urls import reverse

from payouts import processing
from payouts.models import Payout, PayoutAttempt, Status, Step
from tests.payouts.factories import make_payout


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
    assert payout.provider_reference == "ORD-0001"
    assert payout.provider_status == "EXECUTED/SUCCEEDED"
    assert list(fake_provider.orders) == [payout.reference]
    assert fake_provider.orders[payout.reference]["amount"] == {"denomination": "25.00", "currency_code": "MYR"}
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
    fake_provider.reject = True
    payout = make_payout(alice, provider="tremendous", source="redemption", source_ref="r-1")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (Status.FAILED, "HTTP 422: Recipient not accepted")
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
    assert payout.provider_reference == "ORD-0001"
    assert final_calls == [(payout.pk, "succeeded")]


def test_5xx_after_placing_is_unknown_and_resolved_by_lookup(funded_acme, alice, http_account, fake_provider):
    fake_provider.error_after_create = True
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "pending"

    payout.refresh_from_db()
    assert (payout.status, payout.step, payout.provider_reference) == (Status.PROCESSING, Step.WAIT, "ORD-0001")
    assert (fake_provider.create_calls, fake_provider.orders_created) == (1, 1)


def test_lookup_that_finds_nothing_resubmits_with_the_same_reference_later(
    funded_acme, alice, http_account, fake_provider, settings
):
    settings.PAYOUTS_UNKNOWN_RESUBMIT_SECONDS = 600
    settings.PAYOUTS_HTTP_TIMEOUT_SECONDS = 0.5
    fake_provider.transient_failures = 0
    fake_provider.reject = False
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
    assert list(fake_provider.orders) == [payout.reference]


def test_signed_webhook_completes_a_waiting_payout(
    funded_acme, alice, http_account, fake_provider, final_calls, client
):
    fake_provider.delivery_status = "PENDING"
    payout = make_payout(alice, provider="tremendous")
    assert processing.process_payout(payout.pk) == "pending"
    body, headers = fake_provider.webhook(payout.reference, "SUCCEEDED", event_id="evt-1")
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
    body, _ = fake_provider.webhook(payout.reference, "FAILED")
    _, wrong = fake_provider.webhook(payout.reference, "FAILED", secret="not-the-secret")
    tampered_body, headers = fake_provider.webhook(payout.reference, "SUCCEEDED", event_id="e")
    tampered = tampered_body.replace(b"SUCCEEDED", b"FAILED")

    assert client.post(url, body, content_type="application/json", headers=wrong).status_code == 400
    assert client.post(url, body, content_type="application/json").status_code == 400
    assert client.post(url, tampered, content_type="application/json", headers=headers).status_code == 400

    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.WAIT)
    assert final_calls == []
    assert Payout.objects.get(pk=payout.pk).provider_attempts.count() == 1


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
    assert (fake_provider.create_calls, fake_provider.orders) == (0, {})
    assert (attempt.kind, attempt.outcome, attempt.error) == ("create", "transient", "connection: address not allowed")
