"""The PayPal Payouts adapter against a local PayPal that enforces the documented shapes
(tests/payouts/fakes/paypal.py): OAuth, batches, duplicates, webhooks verified by PayPal."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from payouts import processing
from payouts.models import PayoutAttempt, Status, Step
from payouts.providers.paypal import amount_text
from tests.payouts.factories import make_payout


def run_due(payout):
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        return processing.process_payout(payout.pk)


def pay(customer, **kwargs):
    return make_payout(customer, method="paypal", provider="paypal", **kwargs)


def test_a_payout_is_one_batch_of_one_item_under_our_reference(funded_acme, alice, paypal_account, fake_paypal):
    payout = pay(alice)

    assert processing.process_payout(payout.pk) == "pending"

    payout.refresh_from_db()
    assert (payout.status, payout.step, payout.provider_reference) == (Status.PROCESSING, Step.WAIT, "BATCH00000001")
    [token, (method, path, body)] = fake_paypal.requests
    assert token[:2] == ("POST", "/v1/oauth2/token")
    assert (method, path) == ("POST", "/v1/payments/payouts")
    assert body == {
        "sender_batch_header": {
            "sender_batch_id": payout.reference,
            "recipient_type": "EMAIL",
            "email_subject": "You have a reward",
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "amount": {"value": "25.00", "currency": "MYR"},
                "receiver": "alice@example.com",
                "sender_item_id": payout.reference,
            }
        ],
    }
    attempt = PayoutAttempt.objects.get(payout=payout)
    assert attempt.request["items"][0]["receiver"] == "***"


def test_the_pending_batch_is_polled_by_its_id_until_the_item_succeeds(
    funded_acme, alice, paypal_account, fake_paypal, final_calls
):
    fake_paypal.item_status = "PENDING"
    payout = pay(alice)
    assert processing.process_payout(payout.pk) == "pending"
    assert run_due(payout) == "pending"

    fake_paypal.set_item_status(payout.reference, "SUCCESS")
    assert run_due(payout) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.provider_status) == (Status.SUCCEEDED, "SUCCESS")
    assert (fake_paypal.batches_created, fake_paypal.get_calls, fake_paypal.token_calls) == (1, 2, 1)
    assert final_calls == [(payout.pk, "succeeded")]


def test_a_5xx_after_placing_is_resolved_by_sending_the_same_batch_again(
    funded_acme, alice, paypal_account, fake_paypal, final_calls
):
    # PayPal documents that a 5xx may be retried with the same sender_batch_id: the repeat
    # is refused as a duplicate with a link to the original batch, which we then read.
    fake_paypal.server_errors = 1
    payout = pay(alice)

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.provider_reference) == (Status.SUCCEEDED, "BATCH00000001")
    assert (fake_paypal.create_calls, fake_paypal.batches_created) == (2, 1)
    kinds = list(PayoutAttempt.objects.filter(payout=payout).order_by("id").values_list("kind", "response_code"))
    assert kinds == [("create", 500), ("lookup", 400)]
    assert final_calls == [(payout.pk, "succeeded")]


def test_a_refused_receiver_fails_for_good(funded_acme, alice, paypal_account, fake_paypal, final_calls):
    payout = pay(alice, destination={"email": "alice@example.com"})
    payout.destination_secret = {"email": "not-an-email"}
    payout.save(update_fields=["destination_secret"])

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert payout.status_reason == (
        "HTTP 400: Invalid request - see details (items[0].receiver: Receiver is invalid or does not match with type)"
    )
    assert fake_paypal.batches_created == 0


def test_an_expired_token_is_renewed_once(funded_acme, alice, bob, paypal_account, fake_paypal):
    assert processing.process_payout(pay(alice).pk) == "pending"
    fake_paypal.tokens.clear()  # PayPal expired every token

    assert processing.process_payout(pay(bob).pk) == "pending"

    assert (fake_paypal.token_calls, fake_paypal.batches_created) == (2, 2)


def test_wrong_client_secret_is_transient_and_places_nothing(funded_acme, alice, paypal_account, fake_paypal):
    paypal_account.api_key = "wrong"
    paypal_account.save()

    assert processing.process_payout(pay(alice).pk) == "transient"
    assert fake_paypal.batches_created == 0


def test_only_paypal_payouts_go_through_paypal(funded_acme, alice, paypal_account, fake_paypal):
    payout = make_payout(alice, method="gift_card", provider="paypal")

    assert processing.process_payout(payout.pk) == "failed"
    assert fake_paypal.requests == []


@pytest.mark.parametrize(
    ("amount", "currency", "text"), [("25", "MYR", "25.00"), ("1000", "JPY", "1000"), ("9.5", "USD", "9.50")]
)
def test_amounts_use_the_currencys_decimals(amount, currency, text):
    assert amount_text(amount, currency) == text


def test_a_verified_item_webhook_completes_the_payout(
    funded_acme, alice, paypal_account, fake_paypal, final_calls, client
):
    fake_paypal.item_status = "PENDING"
    payout = pay(alice)
    processing.process_payout(payout.pk)
    fake_paypal.set_item_status(payout.reference, "SUCCESS")
    body, headers = fake_paypal.webhook(payout.reference, event_id="WH-1")
    url = reverse("payout-provider-webhook", args=["paypal", "acme"])

    response = client.post(url, body, content_type="application/json", headers=headers)

    assert (response.status_code, response.json()) == (200, {"results": ["succeeded"]})
    assert final_calls == [(payout.pk, "succeeded")]
    again = client.post(url, body, content_type="application/json", headers=headers)
    assert again.json() == {"results": ["duplicate"]}


def test_a_webhook_paypal_does_not_verify_changes_nothing(
    funded_acme, alice, paypal_account, fake_paypal, final_calls, client
):
    fake_paypal.item_status = "PENDING"
    payout = pay(alice)
    processing.process_payout(payout.pk)
    fake_paypal.set_item_status(payout.reference, "FAILED")
    url = reverse("payout-provider-webhook", args=["paypal", "acme"])
    forged, forged_headers = fake_paypal.webhook(payout.reference, "PAYMENT.PAYOUTS-ITEM.FAILED", forged=True)
    body, headers = fake_paypal.webhook(payout.reference, "PAYMENT.PAYOUTS-ITEM.FAILED")

    assert client.post(url, forged, content_type="application/json", headers=forged_headers).status_code == 400
    assert client.post(url, body, content_type="application/json").status_code == 400  # no transmission headers
    tampered = body.replace(b"FAILED", b"SUCCESS")
    assert client.post(url, tampered, content_type="application/json", headers=headers).status_code == 400

    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.WAIT)
    assert final_calls == []
