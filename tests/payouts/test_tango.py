"""The Tango Card RaaS adapter against a local Tango that enforces the documented request
shapes (tests/payouts/fakes/tango.py)."""

import base64
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from payouts import processing, reconciliation
from payouts.models import PayoutAttempt, Status, Step
from payouts.providers import get_provider, http
from tests.payouts.factories import make_payout
from tests.payouts.fakes import tango


def run_due(payout):
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        return processing.process_payout(payout.pk)


def grab(customer, **kwargs):
    kwargs.setdefault("destination", {"email": customer.email, "name": "Alice Tan"})
    return make_payout(customer, provider="tango", **kwargs)


def test_a_gift_card_order_follows_the_documented_shape(funded_acme, alice, tango_account, fake_tango, final_calls):
    payout = grab(alice)

    assert processing.process_payout(payout.pk) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.provider_reference, payout.provider_status) == (
        Status.SUCCEEDED,
        "RA261203-1-01",
        "COMPLETE",
    )
    [(method, path, body)] = fake_tango.requests
    assert (method, path) == ("POST", "/orders")
    assert body == {
        "externalRefID": payout.reference.replace("_", ""),
        "customerIdentifier": "acme-customer",
        "accountIdentifier": "acme-myr-account",
        "utid": "U857954",
        "amount": 25.0,
        "deliveryMethod": "EMAIL",
        "recipient": {"email": "alice@example.com", "firstName": "Alice", "lastName": "Tan"},
    }
    attempt = PayoutAttempt.objects.get(payout=payout)
    assert (attempt.outcome, attempt.response_code, attempt.request["recipient"]) == ("succeeded", 201, "***")
    assert final_calls == [(payout.pk, "succeeded")]


def test_a_voucher_is_embedded_without_recipient(funded_acme, alice, tango_account, fake_tango):
    payout = make_payout(alice, method="voucher", provider="tango", destination={"email": ""})

    assert processing.process_payout(payout.pk) == "succeeded"

    [(_, _, body)] = fake_tango.requests
    assert (body["deliveryMethod"], body["utid"], "recipient" in body) == ("EMBEDDED", "U857954", False)


@pytest.mark.parametrize("method", ["paypal", "bank_transfer", "upi"])
def test_cash_methods_fail_at_once_without_calling_tango(funded_acme, alice, tango_account, fake_tango, method):
    payout = make_payout(alice, method=method, provider="tango")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert payout.status_reason == f"Tango Card has no reward set up for {method} payouts."
    assert fake_tango.requests == []


def test_rate_limit_is_transient_and_the_retry_places_one_order(funded_acme, alice, tango_account, fake_tango):
    fake_tango.rate_limited = 1
    payout = grab(alice)

    assert processing.process_payout(payout.pk) == "transient"
    assert run_due(payout) == "succeeded"

    assert (fake_tango.create_calls, fake_tango.orders_created) == (2, 1)
    assert list(PayoutAttempt.objects.filter(payout=payout).values_list("response_code", flat=True)) == [429, 201]


def test_an_amount_outside_the_items_range_is_refused_for_good(funded_acme, alice, tango_account, fake_tango):
    payout = grab(alice, amount="600.00")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert payout.status_reason == "HTTP 400: The request is invalid. amount: must be between 10.0 and 500.0"
    assert fake_tango.orders_created == 0


def test_timeout_then_lookup_by_external_ref_never_orders_twice(
    funded_acme, alice, tango_account, fake_tango, settings
):
    settings.PAYOUTS_HTTP_TIMEOUT_SECONDS = 0.5
    fake_tango.answer_delay = 2.0
    payout = grab(alice)

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "succeeded"

    payout.refresh_from_db()
    assert (payout.status, payout.provider_reference) == (Status.SUCCEEDED, "RA261203-1-01")
    assert (fake_tango.create_calls, fake_tango.orders_created, fake_tango.lookup_calls) == (1, 1, 1)


def test_5xx_after_placing_then_a_pending_order_is_polled(funded_acme, alice, tango_account, fake_tango):
    fake_tango.error_after_create = True
    fake_tango.status = "PENDING"
    payout = grab(alice)

    assert processing.process_payout(payout.pk) == "unknown"
    assert run_due(payout) == "pending"

    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.WAIT)
    fake_tango.orders[0]["status"] = "COMPLETE"
    assert run_due(payout) == "succeeded"
    assert fake_tango.orders_created == 1


def test_a_repeated_external_ref_answers_the_original_order(fake_tango):
    body = {
        "externalRefID": "gjp0001",
        "customerIdentifier": tango.CUSTOMER,
        "accountIdentifier": tango.ACCOUNT,
        "utid": "U857955",
        "amount": 50,
        "deliveryMethod": "EMBEDDED",
    }
    token = "Basic " + base64.b64encode(f"{tango.PLATFORM_NAME}:{tango.PLATFORM_KEY}".encode()).decode()

    first = http.call("POST", fake_tango.url + "/orders", body, headers={"Authorization": token})
    again = http.call("POST", fake_tango.url + "/orders", body, headers={"Authorization": token})

    assert (first.code, again.code, again.data["referenceOrderID"]) == (201, 200, first.data["referenceOrderID"])
    assert fake_tango.orders_created == 1


def test_wrong_credentials_are_transient_and_place_nothing(funded_acme, alice, tango_account, fake_tango):
    tango_account.api_key = "wrong"
    tango_account.save()
    payout = grab(alice)

    assert processing.process_payout(payout.pk) == "transient"
    assert fake_tango.orders_created == 0


def test_reconciliation_against_the_tango_statement(funded_acme, alice, bob, tango_account, fake_tango):
    first, second = grab(alice), grab(bob, destination={"email": "bob@example.com", "name": "Bob"}, amount="30.00")
    processing.process_payout(first.pk)
    processing.process_payout(second.pk)
    fake_tango.orders[1]["status"] = "FAILED"  # Tango later recorded the second as failed
    outside = fake_tango._place(
        {
            "externalRefID": "manual1",
            "customerIdentifier": tango.CUSTOMER,
            "accountIdentifier": tango.ACCOUNT,
            "utid": "U857955",
            "amount": 50,
        }
    )
    now = timezone.now()

    run = reconciliation.reconcile(funded_acme, "tango", now - timedelta(days=1), now + timedelta(minutes=1))

    assert run.matched == 1
    assert sorted((m["kind"], m["reference"]) for m in run.mismatches) == [
        ("status", second.reference),
        ("unknown_to_us", f"tango:{outside['referenceOrderID']}"),
    ]


def test_catalogue_lists_active_items_with_their_brand(acme, tango_account, fake_tango):
    items = get_provider(acme, "tango").products(country="MY", currency="MYR")

    assert [(i["utid"], i["valueType"], i["brand"]["brandName"]) for i in items] == [
        ("U857954", "VARIABLE_VALUE", "Grab"),
        ("U857955", "FIXED_VALUE", "Grab"),
    ]
    assert items[1]["faceValue"] == 50.0
    assert get_provider(acme, "tango").products(currency="USD") == []


def test_statement_amounts_are_money(acme, tango_account, fake_tango):
    fake_tango._place(
        {
            "externalRefID": "gjp" + "a" * 32,
            "customerIdentifier": tango.CUSTOMER,
            "accountIdentifier": tango.ACCOUNT,
            "utid": "U857954",
            "amount": 12.5,
        }
    )
    now = timezone.now()

    [line] = get_provider(acme, "tango").statement(now - timedelta(hours=1), now + timedelta(hours=1))

    assert (line.reference, line.amount, line.currency, line.outcome) == (
        "gjp_" + "a" * 32,
        Decimal("12.50"),
        "MYR",
        "succeeded",
    )
