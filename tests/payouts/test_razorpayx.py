"""The RazorpayX adapter (India: UPI and bank transfers) against a local RazorpayX that
enforces the documented shapes (tests/payouts/fakes/razorpayx.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from engagement.models import Customer
from payouts import processing, reconciliation
from payouts.models import PayoutAttempt, Status
from tests.payouts.factories import make_payout


def run_due(payout):
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        return processing.process_payout(payout.pk)


@pytest.fixture
def priya(inr_program):
    return Customer.objects.get(program=inr_program, external_id="priya")


def upi(customer, **kwargs):
    kwargs.setdefault("destination", {"vpa": "priya.sharma@okaxis", "name": "Priya Sharma"})
    return make_payout(customer, method="upi", provider="razorpayx", amount="250.00", **kwargs)


def test_a_upi_payout_follows_the_documented_shape(priya, razorpayx_account, fake_razorpayx, final_calls):
    payout = upi(priya)

    assert processing.process_payout(payout.pk) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.provider_reference, payout.provider_status) == (
        Status.SUCCEEDED,
        "pout_00000000000001",
        "processed",
    )
    [(method, path, body)] = fake_razorpayx.requests
    assert (method, path) == ("POST", "/v1/payouts")
    assert body == {
        "account_number": "7878780080316316",
        "amount": 25000,
        "currency": "INR",
        "mode": "UPI",
        "purpose": "payout",
        "fund_account": {
            "account_type": "vpa",
            "vpa": {"address": "priya.sharma@okaxis"},
            "contact": {"name": "Priya Sharma", "type": "customer", "email": "priya@example.com"},
        },
        "queue_if_low_balance": True,
        "reference_id": payout.reference,
    }
    assert fake_razorpayx.by_key[payout.reference][1]["id"] == "pout_00000000000001"
    assert PayoutAttempt.objects.get(payout=payout).request["fund_account"] == "***"
    assert final_calls == [(payout.pk, "succeeded")]


def test_a_bank_transfer_goes_by_imps_with_the_ifsc(priya, razorpayx_account, fake_razorpayx):
    destination = {"account_name": "Priya Sharma", "account_number": "50100012345678", "ifsc": "HDFC0001234"}
    payout = make_payout(priya, method="bank_transfer", provider="razorpayx", amount="1000.00", destination=destination)

    assert processing.process_payout(payout.pk) == "succeeded"

    [(_, _, body)] = fake_razorpayx.requests
    assert (body["mode"], body["amount"]) == ("IMPS", 100000)
    assert body["fund_account"]["bank_account"] == {
        "name": "Priya Sharma",
        "ifsc": "HDFC0001234",
        "account_number": "50100012345678",
    }
    payout.refresh_from_db()
    assert payout.destination == {
        "account_name": "Priya Sharma",
        "account_number": "**********5678",
        "ifsc": "HDFC0001234",
    }


def test_a_5xx_after_placing_is_looked_up_by_reference_never_paid_twice(priya, razorpayx_account, fake_razorpayx):
    fake_razorpayx.server_errors = 1
    payout = upi(priya)

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "succeeded"

    assert (fake_razorpayx.create_calls, fake_razorpayx.payouts_created, fake_razorpayx.list_calls) == (1, 1, 1)


def test_a_resubmit_with_the_same_idempotency_key_answers_the_original(
    priya, razorpayx_account, fake_razorpayx, settings
):
    settings.PAYOUTS_UNKNOWN_RESUBMIT_SECONDS = 0
    fake_razorpayx.server_errors = 1
    payout = upi(priya)
    processing.process_payout(payout.pk)
    # Lookups found nothing long enough (say the listing lagged): send again, same key.
    fake_razorpayx.payouts[0]["reference_id"] = "lagging"
    assert run_due(payout) == "not_found"
    fake_razorpayx.payouts[0]["reference_id"] = payout.reference

    assert run_due(payout) == "succeeded"

    assert (fake_razorpayx.create_calls, fake_razorpayx.payouts_created) == (2, 1)


@pytest.mark.parametrize(
    ("method", "destination", "currency", "reason"),
    [
        (
            "paypal",
            {"email": "priya@example.com"},
            "INR",
            "RazorpayX pays INR to UPI addresses and Indian bank accounts, not paypal in INR.",
        ),
        (
            "bank_transfer",
            {"account_name": "Priya", "iban": "GB82WEST12345698765432"},
            "INR",
            "RazorpayX needs the bank account's IFSC.",
        ),
    ],
)
def test_what_razorpayx_cannot_pay_fails_without_calling_it(
    priya, razorpayx_account, fake_razorpayx, method, destination, currency, reason
):
    payout = make_payout(priya, method=method, provider="razorpayx", destination=destination, currency=currency)

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert payout.status_reason == reason
    assert fake_razorpayx.requests == []


def test_a_refused_vpa_fails_for_good(priya, razorpayx_account, fake_razorpayx):
    payout = upi(priya)
    payout.destination_secret = {"vpa": "no-handle", "name": "Priya"}
    payout.save(update_fields=["destination_secret"])

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert (
        payout.status_reason
        == "HTTP 400: Invalid VPA. Please enter a valid Virtual Payment Address (fund_account.vpa.address)"
    )


def test_signed_webhooks_move_the_payout_and_a_redelivery_is_a_duplicate(
    priya, razorpayx_account, fake_razorpayx, final_calls, client
):
    fake_razorpayx.status = "processing"
    payout = upi(priya)
    assert processing.process_payout(payout.pk) == "pending"
    fake_razorpayx.payouts[0]["status"] = "reversed"
    url = reverse("payout-provider-webhook", args=["razorpayx", "chai"])
    body, headers = fake_razorpayx.webhook(payout.reference, "payout.reversed")
    _, forged = fake_razorpayx.webhook(payout.reference, "payout.reversed", secret="wrong")

    assert client.post(url, body, content_type="application/json", headers=forged).status_code == 400
    response = client.post(url, body, content_type="application/json", headers=headers)

    # The bank returned the money: the payout ends reversed (its funds and points go back).
    assert (response.status_code, response.json()) == (200, {"results": ["reversed"]})
    payout.refresh_from_db()
    assert payout.status == Status.REVERSED
    again = client.post(url, body, content_type="application/json", headers=headers)
    assert again.json() == {"results": ["duplicate"]}
    assert final_calls == [(payout.pk, "succeeded"), (payout.pk, "reversed")]


def test_reconciliation_against_the_razorpayx_statement(priya, inr_program, razorpayx_account, fake_razorpayx):
    first, second = upi(priya), upi(priya, idempotency_key="second")
    processing.process_payout(first.pk)
    processing.process_payout(second.pk)
    fake_razorpayx.payouts[1]["amount"] = 24000
    now = timezone.now()

    run = reconciliation.reconcile(inr_program, "razorpayx", now - timedelta(days=1), now + timedelta(minutes=1))

    assert run.matched == 1
    assert [(m["kind"], m["reference"], m["detail"]) for m in run.mismatches] == [
        ("amount", second.reference, "Ours 250.00 INR, theirs 240.00 INR.")
    ]
    assert Decimal("250.00") == second.amount
