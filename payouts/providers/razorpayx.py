"""RazorpayX Payouts (India: UPI, IMPS, NEFT), following its reference at
razorpay.com/docs/api/x/payouts:

    POST {base}/v1/payouts    "Create a payout" with the fund account's details (composite
                              API): `X-Payout-Idempotency: <our reference>` (the same key and
                              body answer the original payout), `account_number` (the
                              business's RazorpayX account), `amount` in paise, `currency`
                              INR, `mode`, `purpose`, `fund_account` (a `vpa` for UPI, or a
                              `bank_account` with IFSC for IMPS/NEFT) and `reference_id` = our
                              reference
    GET  {base}/v1/payouts?account_number=&reference_id=     look a payout up
    GET  {base}/v1/payouts?account_number=&from=&to=&count=&skip=   the statement
    webhook  X-Razorpay-Signature: <hex HMAC-SHA256 of the raw body with the webhook secret>

HTTP Basic with the key id (account option `key_id`) and secret (the account's API key).
The account's options also hold `account_number` and optionally `bank_mode` (IMPS, the
default, or NEFT) and `purpose` (default `payout`). Only INR, and only `upi` and
`bank_transfer` (with an IFSC) payouts; others fail at once, nothing is sent.

Status -> outcome: queued, pending, scheduled, processing -> pending; processed ->
succeeded; reversed (the bank returned the money) -> reversed; cancelled -> cancelled;
rejected, failed -> failed. HTTP on create: 400 -> failed; 401/403/429 and a refused
connection -> transient; a timeout, 5xx or an unreadable answer -> unknown (look it up by
reference_id). Webhook events carry no signed id: the event's identity is the SHA-256 of
its signed body, so a redelivery is a duplicate and a replay changes nothing.
"""

import base64
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from payouts.providers import http
from payouts.providers.base import (
    Outcome,
    PayoutProvider,
    ProviderResult,
    ProviderUnavailable,
    StatementLine,
    WebhookSignatureError,
    WebhookUpdate,
    hmac_sha256_hex,
    signatures_match,
)

STATUS = {
    "queued": Outcome.PENDING,
    "pending": Outcome.PENDING,
    "scheduled": Outcome.PENDING,
    "processing": Outcome.PENDING,
    "processed": Outcome.SUCCEEDED,
    "reversed": Outcome.REVERSED,
    "cancelled": Outcome.CANCELLED,
    "rejected": Outcome.FAILED,
    "failed": Outcome.FAILED,
}
TRANSIENT_CODES = {401, 403, 429}
PAGE = 100


def payout_outcome(payout):
    status = str(payout.get("status", "")).lower()
    return STATUS.get(status, Outcome.UNKNOWN), status


class RazorpayXProvider(PayoutProvider):
    name = "razorpayx"
    # The composite payout answer ("Payout Composite Entity",
    # razorpay.com/docs/api/x/payout-composite/entity) echoes the `fund_account` with the
    # payee's `contact` {name, contact, email}, `bank_account` {ifsc, name, account_number}
    # or `vpa` {address}; `account_number` is also the business's own RazorpayX account.
    secret_fields = frozenset({"fund_account", "contact", "bank_account", "vpa", "account_number"})

    @property
    def options(self):
        return (self.account and self.account.options) or {}

    @property
    def base_url(self):
        return ((self.account and self.account.base_url) or settings.PAYOUTS_RAZORPAYX_BASE_URL).rstrip("/")

    def _call(self, method, path, body=None, headers=None):
        key_id = self.options.get("key_id") or settings.PAYOUTS_RAZORPAYX_KEY_ID
        secret = (self.account and self.account.api_key) or settings.PAYOUTS_RAZORPAYX_KEY_SECRET
        basic = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", **(headers or {})}
        return http.call(method, self.base_url + path, body, headers=headers, guard=self.guarded)

    @property
    def account_number(self):
        return self.options.get("account_number") or settings.PAYOUTS_RAZORPAYX_ACCOUNT_NUMBER

    def _fund_account(self, order):
        destination = order.destination
        contact = {
            "name": destination.get("name") or destination.get("account_name") or order.recipient_name,
            "type": "customer",
        }
        if order.recipient_email:
            contact["email"] = order.recipient_email
        if order.method == "upi":
            return "UPI", {"account_type": "vpa", "vpa": {"address": destination.get("vpa", "")}, "contact": contact}
        bank = {
            "name": destination.get("account_name", ""),
            "ifsc": destination.get("ifsc", ""),
            "account_number": destination.get("account_number", ""),
        }
        return self.options.get("bank_mode", "IMPS"), {
            "account_type": "bank_account",
            "bank_account": bank,
            "contact": contact,
        }

    def create(self, order):
        if order.currency != "INR" or order.method not in ("upi", "bank_transfer"):
            why = (
                f"RazorpayX pays INR to UPI addresses and Indian bank accounts, not {order.method} in {order.currency}."
            )
            return ProviderResult(Outcome.FAILED, error=why)
        if order.method == "bank_transfer" and not order.destination.get("ifsc"):
            return ProviderResult(Outcome.FAILED, error="RazorpayX needs the bank account's IFSC.")
        mode, fund_account = self._fund_account(order)
        body = {
            "account_number": self.account_number,
            "amount": int(order.amount * 100),
            "currency": "INR",
            "mode": mode,
            "purpose": self.options.get("purpose", "payout"),
            "fund_account": fund_account,
            "queue_if_low_balance": True,
            "reference_id": order.reference,
        }
        reply = self._call("POST", "/v1/payouts", body, headers={"X-Payout-Idempotency": order.reference})
        result = self._create_result(reply)
        result.request = {**body, "account_number": "***", "fund_account": "***"}
        return http.record(result, reply, self)

    def _create_result(self, reply):
        if reply.error:
            return ProviderResult(Outcome.UNKNOWN if reply.may_have_acted else Outcome.TRANSIENT, error=reply.error)
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code == 200 and data.get("entity") == "payout":
            return self._payout_result(data)
        if reply.code == 400:
            return ProviderResult(Outcome.FAILED, error=_error_text(data, reply.code))
        if reply.code in TRANSIENT_CODES:
            return ProviderResult(Outcome.TRANSIENT, error=_error_text(data, reply.code))
        return ProviderResult(Outcome.UNKNOWN, error=_error_text(data, reply.code))

    def _payout_result(self, payout):
        outcome, status = payout_outcome(payout)
        return ProviderResult(outcome, provider_reference=str(payout.get("id", "")), provider_status=status)

    def fetch_status(self, reference, provider_reference=""):
        query = {"account_number": self.account_number, "reference_id": reference, "count": 10}
        reply = self._call("GET", "/v1/payouts?" + urllib.parse.urlencode(query))
        return http.lookup_result(reply, "items", "reference_id", reference, self._payout_result, _error_text, self)

    def verify_webhook(self, headers, body):
        secret = self.options.get("webhook_secret") or (self.account and self.account.webhook_secret)
        secret = secret or settings.PAYOUTS_RAZORPAYX_WEBHOOK_SECRET
        if not secret or not signatures_match(hmac_sha256_hex(secret, body), headers.get("X-Razorpay-Signature", "")):
            raise WebhookSignatureError("Bad signature.")
        try:
            event = json.loads(body)
            payout = event["payload"]["payout"]["entity"]
        except (ValueError, KeyError, TypeError):
            return []  # a signed event about something else (transactions, fund accounts)
        outcome, status = payout_outcome(payout)
        if not payout.get("reference_id") or outcome == Outcome.UNKNOWN:
            return []
        return [
            WebhookUpdate(
                event_id=hashlib.sha256(body).hexdigest(),
                reference=str(payout["reference_id"]),
                outcome=outcome,
                provider_reference=str(payout.get("id", "")),
                provider_status=status,
            )
        ]

    def statement(self, start, end):
        """Payouts created in [start, end), 100 a page (`from`/`to` are unix seconds)."""
        lines, skip = [], 0
        while True:
            query = {
                "account_number": self.account_number,
                "from": int(start.timestamp()),
                "to": int(end.timestamp()),
                "count": PAGE,
                "skip": skip,
            }
            reply = self._call("GET", "/v1/payouts?" + urllib.parse.urlencode(query))
            data = reply.data if isinstance(reply.data, dict) else {}
            if reply.code != 200 or not isinstance(data.get("items"), list):
                raise ProviderUnavailable(f"RazorpayX statement: {reply.error or _error_text(data, reply.code)}")
            lines += [_statement_line(p) for p in data["items"]]
            skip += len(data["items"])
            if len(data["items"]) < PAGE:
                break
        return [line for line in lines if line.created_at is None or line.created_at < end]


def _statement_line(payout):
    outcome, _ = payout_outcome(payout)
    created = payout.get("created_at")
    return StatementLine(
        reference=str(payout.get("reference_id") or f"razorpayx:{payout.get('id')}"),
        provider_reference=str(payout.get("id", "")),
        amount=(Decimal(int(payout.get("amount") or 0)) / 100).quantize(Decimal("0.01")),
        currency=str(payout.get("currency", "")),
        outcome=outcome,
        created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
    )


def _error_text(data, code):
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("description"):
        field = f" ({error['field']})" if error.get("field") else ""
        return f"HTTP {code}: {error['description']}{field}"[:500]
    return f"HTTP {code}"
