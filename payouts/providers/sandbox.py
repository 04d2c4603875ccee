"""The built-in sandbox provider: behaves like a real payout API, with its own order book
(SandboxOrder rows), for the demo and tests.

- Orders are keyed by our reference (like Tremendous' external_id): a repeated create
  returns the first order, never a second one.
- Completion is asynchronous: an order is `pending` until `sandbox_completion_seconds`
  (program setting) have passed; a lookup or the statement after that shows it complete.
- Failure modes, per program (PayoutSettings.sandbox_mode) or by magic values:
    amount ending .51 or a destination containing "reject"  -> permanent rejection (422)
    amount ending .52 or a destination containing "flaky"   -> transient error (429) twice,
                                                                then accepted
    amount ending .53 or a destination containing "slow"    -> the order is placed but the
                                                                answer is lost (timeout)
    amount ending .54                                        -> accepted, later fails
- Webhooks are signed like Stripe's: `Sandbox-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
  "<t>.<raw body>">`, stale after 300 s.
"""

import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payouts.models import PayoutSettings, SandboxOrder
from payouts.providers.base import (
    Outcome,
    PayoutProvider,
    ProviderResult,
    StatementLine,
    WebhookSignatureError,
    WebhookUpdate,
    hmac_sha256_hex,
    signatures_match,
)

SIGNATURE_HEADER = "Sandbox-Signature"
TOLERANCE_SECONDS = 300
TRANSIENT_FAILURES = 2
STATE_OUTCOME = {
    SandboxOrder.State.PENDING: Outcome.PENDING,
    SandboxOrder.State.COMPLETE: Outcome.SUCCEEDED,
    SandboxOrder.State.FAILED: Outcome.FAILED,
    SandboxOrder.State.REVERSED: Outcome.REVERSED,
}
MAGIC = {"51": "permanent", "52": "transient", "53": "timeout", "54": "fail_later"}
MAGIC_WORDS = {"reject": "permanent", "flaky": "transient", "slow": "timeout"}


def webhook_secret(account=None):
    return (account and account.webhook_secret) or settings.PAYOUTS_SANDBOX_WEBHOOK_SECRET


def sign(body: bytes, secret: str, timestamp=None):
    """Headers for a sandbox webhook body (used by the sandbox itself, tests and the demo)."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    signature = hmac_sha256_hex(secret, f"{timestamp}.".encode() + body)
    return {SIGNATURE_HEADER: f"t={timestamp},v1={signature}"}


class SandboxProvider(PayoutProvider):
    name = "sandbox"

    def _mode(self, order):
        cents = f"{order.amount:.2f}"[-2:]
        if cents in MAGIC:
            return MAGIC[cents]
        text = json.dumps(order.destination).lower()
        for word, mode in MAGIC_WORDS.items():
            if word in text:
                return mode
        mode = PayoutSettings.objects.filter(program=self.program).values_list("sandbox_mode", flat=True).first()
        return mode or "normal"

    def create(self, order):
        started = time.monotonic()
        request = {"external_id": order.reference, "amount": str(order.amount), "currency": order.currency}
        mode = self._mode(order)
        with transaction.atomic():
            row, _ = SandboxOrder.objects.get_or_create(
                external_id=order.reference,
                defaults={
                    "program": self.program,
                    "order_id": f"SBX-{order.reference[-12:].upper()}",
                    "amount": order.amount,
                    "currency": order.currency,
                    "method": order.method,
                    "complete_at": timezone.now() + timedelta(seconds=self._completion_seconds()),
                },
            )
            row = SandboxOrder.objects.select_for_update().get(pk=row.pk)
            row.calls += 1
            result = self._answer_create(row, mode)
            row.save()
        result.request = request
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def _answer_create(self, row, mode):
        if row.placed:  # idempotent replay: the original order
            return self._result(row, 200)
        if mode == "permanent":
            return ProviderResult(Outcome.FAILED, error="Rejected: destination not accepted.", response_code=422)
        if mode == "transient" and row.calls <= TRANSIENT_FAILURES:
            return ProviderResult(Outcome.TRANSIENT, error="Rate limited, try again later.", response_code=429)
        row.placed = True
        if mode == "fail_later":
            row.method = f"{row.method}:fail"
        if mode == "timeout" and row.calls == 1:
            return ProviderResult(Outcome.UNKNOWN, error="Timed out waiting for the provider.")
        return self._result(row, 201)

    def _completion_seconds(self):
        value = PayoutSettings.objects.filter(program=self.program).values_list("sandbox_completion_seconds", flat=True)
        return value.first() or 0

    def _advance(self, row):
        """Asynchronous completion: a pending order whose time has come completes (or fails)."""
        if row.state == SandboxOrder.State.PENDING and timezone.now() >= row.complete_at:
            row.state = SandboxOrder.State.FAILED if row.method.endswith(":fail") else SandboxOrder.State.COMPLETE
            row.save(update_fields=["state"])
        return row

    def _result(self, row, code):
        body = {"order_id": row.order_id, "external_id": row.external_id, "status": row.state}
        return ProviderResult(
            STATE_OUTCOME[row.state],
            provider_reference=row.order_id,
            provider_status=row.state,
            response_code=code,
            response_body=json.dumps(body),
            amount=row.amount,
        )

    def fetch_status(self, reference, provider_reference=""):
        started = time.monotonic()
        row = SandboxOrder.objects.filter(external_id=reference, placed=True).first()
        if row is None:
            result = ProviderResult(Outcome.NOT_FOUND, response_code=404)
        else:
            result = self._result(self._advance(row), 200)
        result.request = {"external_id": reference}
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def verify_webhook(self, headers, body):
        parts = dict(item.split("=", 1) for item in (headers.get(SIGNATURE_HEADER) or "").split(",") if "=" in item)
        timestamp = parts.get("t", "")
        if not timestamp.isdigit():
            raise WebhookSignatureError("Missing or malformed signature header.")
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            raise WebhookSignatureError("Stale webhook timestamp.")
        expected = hmac_sha256_hex(webhook_secret(self.account), f"{timestamp}.".encode() + body)
        if not signatures_match(expected, parts.get("v1", "")):
            raise WebhookSignatureError("Bad signature.")
        try:
            event = json.loads(body)
            data = event["data"]
            return [
                WebhookUpdate(
                    event_id=str(event["id"]),
                    reference=str(data["external_id"]),
                    outcome=STATE_OUTCOME[data["status"]],
                    provider_reference=str(data.get("order_id", "")),
                    provider_status=data["status"],
                )
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureError(f"Malformed webhook body: {exc}") from None

    def statement(self, start, end):
        rows = SandboxOrder.objects.filter(program=self.program, placed=True, created_at__gte=start, created_at__lt=end)
        return [
            StatementLine(
                reference=row.external_id,
                provider_reference=row.order_id,
                amount=row.amount,
                currency=row.currency,
                outcome=STATE_OUTCOME[self._advance(row).state],
                created_at=row.created_at,
            )
            for row in rows
        ]

    # --- sandbox-only controls (admin, demo, tests) -------------------------------------
    def webhook_body(self, reference, status, event_id=None):
        row = SandboxOrder.objects.get(external_id=reference)
        event = {
            "id": event_id or f"evt_{row.order_id}_{status}",
            "type": f"order.{status}",
            "data": {"external_id": reference, "order_id": row.order_id, "status": status},
        }
        return json.dumps(event).encode()

    def set_state(self, reference, state):
        SandboxOrder.objects.filter(external_id=reference).update(state=state)
