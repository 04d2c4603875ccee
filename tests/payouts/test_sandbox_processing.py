from datetime import timedelta
from decimal import Decimal

import time_machine
from django.utils import timezone

from engagement.webhooks.models import WebhookEvent
from payouts import processing, services
from payouts.models import FundingAccount, FundingEntry, PayoutAttempt, SandboxOrder, Status, Step
from tests.payouts.factories import make_payout


def balance(program):
    return FundingAccount.objects.get(program=program, currency="MYR").balance


def test_reference_is_stored_before_any_provider_call(funded_acme, alice):
    payout = make_payout(alice)

    payout.refresh_from_db()
    assert payout.status == Status.QUEUED
    assert payout.reference.startswith("gjp_") and len(payout.reference) == 36
    assert PayoutAttempt.objects.filter(payout=payout).count() == 0
    assert balance(funded_acme) == Decimal("9975.00")


def test_sandbox_completes_asynchronously_then_succeeds(funded_acme, alice, final_calls):
    services.get_settings(funded_acme)
    funded_acme.payout_settings.sandbox_completion_seconds = 120
    funded_acme.payout_settings.save()
    payout = make_payout(alice)

    assert processing.process_payout(payout.pk) == "pending"
    payout.refresh_from_db()
    assert (payout.status, payout.step, payout.destination_secret) == (Status.PROCESSING, Step.WAIT, {})
    assert final_calls == []

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert processing.process_payout(payout.pk) == "succeeded"

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert payout.provider_reference == SandboxOrder.objects.get(external_id=payout.reference).order_id
    assert final_calls == [(payout.pk, "succeeded")]
    event = WebhookEvent.objects.get(program=funded_acme, type="payout.succeeded")
    assert (event.payload["id"], event.payload["status"], event.payload["amount"]) == (payout.pk, "succeeded", "25.00")
    assert list(PayoutAttempt.objects.filter(payout=payout).values_list("kind", "outcome")) == [
        ("create", "pending"),
        ("lookup", "succeeded"),
    ]


def test_transient_errors_are_retried_with_backoff_then_succeed(funded_acme, alice, final_calls):
    payout = make_payout(alice, amount="10.52")  # sandbox: 429 twice, then accepted
    start = timezone.now()

    assert processing.process_payout(payout.pk) == "transient"
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (Status.QUEUED, 1)
    first_delay = (payout.next_attempt_at - start).total_seconds()
    assert 15 <= first_delay <= 31  # base 30 s, equal jitter: [15, 30]
    assert processing.process_payout(payout.pk) is None  # not due yet: nothing happens

    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "transient"
    payout.refresh_from_db()
    second_delay = (payout.next_attempt_at - timezone.now()).total_seconds()
    assert payout.attempts == 2 and second_delay >= 29  # doubled: [30, 60]

    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "pending"
        assert processing.process_payout(payout.pk, now=timezone.now() + timedelta(minutes=5)) == "succeeded"

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert SandboxOrder.objects.filter(external_id=payout.reference, placed=True).count() == 1
    assert final_calls == [(payout.pk, "succeeded")]


def test_permanent_rejection_fails_without_retry_and_calls_final_handlers(funded_acme, alice, final_calls):
    payout = make_payout(alice, amount="40.51", source="redemption", source_ref="redemption-7")

    assert processing.process_payout(payout.pk) == "failed"

    payout.refresh_from_db()
    assert (payout.status, payout.attempts, payout.next_attempt_at) == (Status.FAILED, 1, None)
    assert payout.status_reason == "Rejected: destination not accepted."
    assert final_calls == [(payout.pk, "failed")]
    assert balance(funded_acme) == Decimal("10000.00")  # reservation released
    assert list(FundingEntry.objects.filter(payout=payout).values_list("kind", "amount")) == [
        ("release", Decimal("40.51")),
        ("reserve", Decimal("-40.51")),
    ]
    assert WebhookEvent.objects.get(program=funded_acme, type="payout.failed").payload["source_ref"] == "redemption-7"
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert processing.process_payout(payout.pk) is None
    assert PayoutAttempt.objects.filter(payout=payout).count() == 1


def test_transient_errors_give_up_after_max_attempts(funded_acme, alice, final_calls, settings):
    settings.PAYOUTS_MAX_ATTEMPTS = 2
    payout = make_payout(alice, amount="10.52")

    processing.process_payout(payout.pk)
    payout.refresh_from_db()
    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "transient"

    payout.refresh_from_db()
    assert payout.status == Status.FAILED
    assert payout.status_reason == "Gave up after 2 attempts: Rate limited, try again later."
    assert final_calls == [(payout.pk, "failed")]


def test_timeout_is_resolved_by_lookup_without_a_second_order(funded_acme, alice, final_calls):
    payout = make_payout(alice, amount="30.53")  # sandbox: places the order, answer lost

    assert processing.process_payout(payout.pk) == "unknown"
    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.LOOKUP)

    with time_machine.travel(payout.next_attempt_at + timedelta(seconds=1)):
        assert processing.process_payout(payout.pk) == "succeeded"

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    order = SandboxOrder.objects.get(external_id=payout.reference)
    assert order.calls == 1  # one create; the second call was a lookup
    assert list(PayoutAttempt.objects.filter(payout=payout).values_list("kind", "outcome")) == [
        ("create", "unknown"),
        ("lookup", "succeeded"),
    ]
    assert final_calls == [(payout.pk, "succeeded")]


def test_a_worker_dying_mid_call_is_treated_as_unknown(funded_acme, alice):
    payout = make_payout(alice)
    claimed = processing.claim(payout.pk, timezone.now())  # claimed, then the worker "dies"
    assert claimed is not None
    assert processing.process_payout(payout.pk) is None  # lease still held

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert processing.process_payout(payout.pk) == "not_found"

    payout.refresh_from_db()
    assert (payout.status, payout.step) == (Status.PROCESSING, Step.LOOKUP)
    assert not SandboxOrder.objects.filter(external_id=payout.reference).exists()


def test_sweep_lists_due_payouts_only(funded_acme, alice):
    due = make_payout(alice)
    later = make_payout(alice, amount="10.52")
    processing.process_payout(later.pk)  # transient: queued for later

    assert processing.list_due_payout_ids() == [due.pk]
