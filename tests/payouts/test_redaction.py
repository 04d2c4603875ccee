"""Provider answers are stored without their secrets: every adapter declares the fields of
its documented answers that hold a gift card's code/PIN/link, a payee's details, account
numbers or tokens (`secret_fields`), and what PayoutAttempt / ProviderWebhookReceipt keep
has them replaced by "[redacted]". The code itself goes to the credential hook once (kept
encrypted on the redemption: see tests/rewards/test_gift_card_delivery.py)."""

import importlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.urls import reverse

from engagement.models import Customer
from payouts import hooks, processing
from payouts.models import PayoutAttempt, ProviderWebhookReceipt
from payouts.providers import http
from payouts.providers.base import REDACTED
from tests.payouts.factories import make_payout
from tests.payouts.fakes import paypal, razorpayx, tango, tremendous


@pytest.fixture
def issued():
    """The credential hook's calls: [(payout_id, credentials)]."""
    calls = []

    def handler(payout_id, credentials):
        calls.append((payout_id, credentials))

    hooks.register_payout_credentials_handler(handler)
    yield calls
    hooks._credential_handlers.remove(handler)


def stored_text(payout):
    """Everything kept of the payout's provider calls, as one string."""
    rows = PayoutAttempt.objects.filter(payout=payout).values_list("request", "response_body")
    return json.dumps([[request, body] for request, body in rows])


def test_a_tremendous_link_is_handed_over_once_and_stored_redacted(
    funded_acme, alice, http_account, fake_provider, issued
):
    payout = make_payout(alice, method="voucher", provider="tremendous")

    assert processing.process_payout(payout.pk) == "succeeded"

    [order] = fake_provider.orders.values()
    reward = order["rewards"][0]
    link = reward["delivery"]["link"]
    assert issued == [(payout.pk, [{"kind": "link", "label": "Redemption link", "value": link}])]
    attempt = PayoutAttempt.objects.get(payout=payout)
    stored = json.loads(attempt.response_body)["order"]["rewards"][0]
    assert (stored["delivery"], stored["recipient"], stored["id"]) == (
        {"method": "LINK", "status": "SUCCEEDED", "link": REDACTED}, REDACTED, reward["id"],
    )  # fmt: skip
    text = stored_text(payout)
    for secret in (link, alice.email, tremendous.API_KEY, "Bearer"):
        assert secret not in text


def test_a_tango_code_pin_and_url_are_handed_over_and_stored_redacted(
    funded_acme, alice, tango_account, fake_tango, issued
):
    fake_tango.with_pin = True
    payout = make_payout(alice, method="voucher", provider="tango")

    assert processing.process_payout(payout.pk) == "succeeded"

    assert issued == [
        (
            payout.pk,
            [
                {"kind": "code", "label": "Claim Code", "value": "GRAB-0001-TEST"},
                {"kind": "pin", "label": "PIN", "value": "0001"},
                {"kind": "link", "label": "Redemption URL", "value": "https://sandbox.tangocard.example/r/1"},
            ],
        )
    ]
    reward = json.loads(PayoutAttempt.objects.get(payout=payout).response_body)["reward"]
    assert (reward["credentials"], reward["credentialList"]) == (REDACTED, REDACTED)
    text = stored_text(payout)
    for secret in ("GRAB-0001-TEST", '"0001"', "tangocard.example/r/1", tango.PLATFORM_KEY, "Basic "):
        assert secret not in text


def test_a_tango_lookup_is_redacted_too(funded_acme, alice, tango_account, fake_tango, issued):
    fake_tango.error_after_create = True  # placed, then a 500: looked up by externalRefID
    payout = make_payout(alice, method="voucher", provider="tango")
    assert processing.process_payout(payout.pk) == "unknown"
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "succeeded"

    assert [kind for (kind,) in PayoutAttempt.objects.filter(payout=payout).values_list("kind")] == ["create", "lookup"]
    assert issued == [(payout.pk, [{"kind": "code", "label": "Claim Code", "value": "GRAB-0001-TEST"}])]
    assert "GRAB-0001-TEST" not in stored_text(payout)


def test_a_paypal_receiver_is_redacted_in_lookups_and_webhook_receipts(
    funded_acme, alice, paypal_account, fake_paypal, client, issued
):
    fake_paypal.item_status = "PENDING"
    payout = make_payout(alice, method="paypal", provider="paypal")
    processing.process_payout(payout.pk)
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "pending"  # the poll reads the item
    fake_paypal.set_item_status(payout.reference, "SUCCESS")
    body, headers = fake_paypal.webhook(payout.reference, event_id="WH-R1")
    url = reverse("payout-provider-webhook", args=["paypal", "acme"])
    assert client.post(url, body, content_type="application/json", headers=headers).status_code == 200

    lookup = PayoutAttempt.objects.get(payout=payout, kind="lookup")
    assert json.loads(lookup.response_body)["items"][0]["payout_item"]["receiver"] == REDACTED
    receipt = ProviderWebhookReceipt.objects.get(event_id="WH-R1")
    assert (receipt.payload["resource"]["payout_item"]["receiver"], receipt.payload["id"]) == (REDACTED, "WH-R1")
    text = stored_text(payout) + json.dumps(receipt.payload)
    for secret in (alice.email, paypal.CLIENT_SECRET, "A21AA"):
        assert secret not in text
    assert issued == []  # PayPal pays accounts: no code to keep


def test_a_razorpayx_fund_account_and_account_number_are_redacted(inr_program, razorpayx_account, fake_razorpayx):
    priya = Customer.objects.get(program=inr_program, external_id="priya")
    destination = {"account_name": "Priya Sharma", "ifsc": "HDFC0001234", "account_number": "50100012345678"}
    payout = make_payout(priya, method="bank_transfer", provider="razorpayx", amount="250.00", destination=destination)

    assert processing.process_payout(payout.pk) == "succeeded"

    attempt = PayoutAttempt.objects.get(payout=payout)
    stored = json.loads(attempt.response_body)
    assert (stored["id"], stored["fund_account"], stored["fund_account_id"]) == (
        "pout_00000000000001", REDACTED, "fa_00000000000001",
    )  # fmt: skip
    assert (attempt.request["account_number"], attempt.request["fund_account"]) == ("***", "***")
    text = stored_text(payout)
    for secret in ("50100012345678", razorpayx.ACCOUNT_NUMBER, "priya@example.com", razorpayx.KEY_SECRET):
        assert secret not in text


def test_an_answer_that_is_not_json_is_kept_only_as_an_error_page():
    cut = http.Reply(200, None, '{"order": {"rewards": [{"delivery": {"link": "https://x/r/1"', "", 5)
    page = http.Reply(502, None, "<html>Bad gateway</html>", "", 5)

    assert http.stored_body(cut, {"link"}) == "[an answer of 60+ characters that is not JSON: not kept]"
    assert http.stored_body(page, {"link"}) == "<html>Bad gateway</html>"


def test_the_migration_redacts_rows_stored_before(funded_acme, alice, tango_account, fake_tango):
    payout = make_payout(alice, method="voucher", provider="tango")
    raw = json.dumps(
        {"referenceOrderID": "RA1", "reward": {"credentials": {"Claim Code": "OLD-CODE"}, "credentialList": [
            {"label": "Claim Code", "value": "OLD-CODE", "type": "text"}]}, "recipient": {"email": "a@b.example"}}
    )  # fmt: skip
    old = PayoutAttempt.objects.create(
        payout=payout, kind="create", outcome="succeeded", response_code=201, response_body=raw
    )
    unchanged = PayoutAttempt.objects.create(
        payout=payout, kind="lookup", outcome="transient", response_code=503, response_body="<html>down</html>"
    )
    migration = importlib.import_module("payouts.migrations.0008_redact_stored_provider_answers")

    migration.redact_attempts(django_apps, None)

    old.refresh_from_db()
    assert json.loads(old.response_body) == {
        "referenceOrderID": "RA1",
        "reward": {"credentials": REDACTED, "credentialList": REDACTED},
        "recipient": REDACTED,
    }
    unchanged.refresh_from_db()
    assert unchanged.response_body == "<html>down</html>"
