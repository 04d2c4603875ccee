"""PayPal Payouts (v1), following its reference at developer.paypal.com:

    POST {base}/v1/oauth2/token              client credentials -> bearer token (cached)
    POST {base}/v1/payments/payouts          "Create batch payout": one batch of one item per
                                             payout; sender_batch_id = sender_item_id = our
                                             reference. PayPal refuses a sender_batch_id used
                                             in the last 30 days (400 USER_BUSINESS_ERROR with
                                             a link to the original batch), so sending again
                                             is safe and is how we find a batch whose answer
                                             was lost: PayPal has no lookup by sender_batch_id.
    GET  {base}/v1/payments/payouts/{payout_batch_id}   "Show payout batch details"
    POST {base}/v1/notifications/verify-webhook-signature   webhooks are verified by PayPal

The amount is a string with the currency's decimals (none for JPY, HUF, TWD). The program's
provider account holds the client id (option `client_id`) and secret (API key field), and
the webhook id (option `webhook_id`) that PayPal signs events for. Only the `paypal` method
is paid this way; others fail at once.

Item transaction_status -> outcome: SUCCESS -> succeeded; FAILED, BLOCKED, DENIED, RETURNED
-> failed; REFUNDED, REVERSED -> reversed; CANCELED -> cancelled; PENDING, UNCLAIMED (the
recipient has 30 days to open an account), ONHOLD -> pending. A DENIED or CANCELED batch
has the same meaning. HTTP on create: 400/422 -> failed (except the duplicate, which is looked
up through its link); 401/403/429 and a refused connection -> transient; a timeout, 5xx or
an unreadable answer -> unknown, resolved by sending the same batch again.
"""

import base64
import json
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from payouts.providers import http
from payouts.providers.base import (
    Outcome,
    PayoutProvider,
    ProviderResult,
    WebhookLookupError,
    WebhookSignatureError,
    WebhookUpdate,
)

ITEM_STATUS = {
    "SUCCESS": Outcome.SUCCEEDED,
    "FAILED": Outcome.FAILED,
    "BLOCKED": Outcome.FAILED,
    "DENIED": Outcome.FAILED,
    "RETURNED": Outcome.FAILED,
    "REFUNDED": Outcome.REVERSED,
    "REVERSED": Outcome.REVERSED,
    "CANCELED": Outcome.CANCELLED,
    "PENDING": Outcome.PENDING,
    "UNCLAIMED": Outcome.PENDING,
    "ONHOLD": Outcome.PENDING,
}
BATCH_STATUS = {"DENIED": Outcome.FAILED, "CANCELED": Outcome.CANCELLED}
ZERO_DECIMAL = {"JPY", "HUF", "TWD"}
TRANSIENT_CODES = {401, 403, 429}
DUPLICATE = "USER_BUSINESS_ERROR"
WEBHOOK_HEADERS = {
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "cert_url": "PAYPAL-CERT-URL",
    "auth_algo": "PAYPAL-AUTH-ALGO",
}


def amount_text(amount, currency):
    """PayPal's amount string: no decimals for zero-decimal currencies, else two."""
    places = Decimal("1") if currency in ZERO_DECIMAL else Decimal("0.01")
    return str(Decimal(amount).quantize(places))


def item_outcome(batch):
    """(outcome, provider status) of a one-item batch."""
    header = batch.get("batch_header") or {}
    batch_status = str(header.get("batch_status", "")).upper()
    if batch_status in BATCH_STATUS:
        return BATCH_STATUS[batch_status], batch_status
    items = batch.get("items") or []
    if not items:
        return Outcome.PENDING, batch_status or "PENDING"
    status = str(items[0].get("transaction_status", "")).upper()
    return ITEM_STATUS.get(status, Outcome.UNKNOWN), status


class PayPalProvider(PayoutProvider):
    name = "paypal"
    # A payout item's `payout_item.receiver` (the payee's email, phone or PayPal id) in
    # "Show payout batch details" and the PAYMENT.PAYOUTS-ITEM.* webhook resource; the
    # `access_token` of "Get access token" (never recorded, listed in case it ever is).
    secret_fields = frozenset({"receiver", "access_token"})

    @property
    def options(self):
        return (self.account and self.account.options) or {}

    @property
    def base_url(self):
        return ((self.account and self.account.base_url) or settings.PAYOUTS_PAYPAL_BASE_URL).rstrip("/")

    def _token(self, refresh=False):
        """A bearer token, cached until shortly before PayPal says it expires."""
        client_id = self.options.get("client_id") or settings.PAYOUTS_PAYPAL_CLIENT_ID
        key = f"paypal-token:{self.base_url}:{client_id}"
        token = None if refresh else cache.get(key)
        if token:
            return token
        secret = (self.account and self.account.api_key) or settings.PAYOUTS_PAYPAL_CLIENT_SECRET
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        reply = http.call(
            "POST", self.base_url + "/v1/oauth2/token", form="grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}"}, guard=self.guarded,
        )  # fmt: skip
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code != 200 or not data.get("access_token"):
            return None
        cache.set(key, data["access_token"], max(60, int(data.get("expires_in", 0)) - 300))
        return data["access_token"]

    def _call(self, method, url, body=None):
        """One API call with a bearer token; a 401 refreshes the token once."""
        for refresh in (False, True):
            token = self._token(refresh)
            if token is None:
                return http.Reply(401, None, "", "", 0)
            reply = http.call(method, url, body, headers={"Authorization": f"Bearer {token}"}, guard=self.guarded)
            if reply.code != 401:
                return reply
        return reply

    def _body(self, order):
        return {
            "sender_batch_header": {
                "sender_batch_id": order.reference,
                "recipient_type": "EMAIL",
                "email_subject": settings.PAYOUTS_PAYPAL_EMAIL_SUBJECT,
            },
            "items": [
                {
                    "recipient_type": "EMAIL",
                    "amount": {"value": amount_text(order.amount, order.currency), "currency": order.currency},
                    "receiver": order.destination.get("email") or order.recipient_email,
                    "sender_item_id": order.reference,
                }
            ],
        }

    def create(self, order):
        if order.method != "paypal":
            return ProviderResult(Outcome.FAILED, error=f"PayPal Payouts pays PayPal accounts, not {order.method}.")
        body = self._body(order)
        reply = self._call("POST", self.base_url + "/v1/payments/payouts", body)
        result = self._create_result(reply)
        result.request = {**body, "items": [{**body["items"][0], "receiver": "***"}]}
        return http.record(result, reply, self)

    def _create_result(self, reply):
        if reply.error:
            return ProviderResult(Outcome.UNKNOWN if reply.may_have_acted else Outcome.TRANSIENT, error=reply.error)
        data = reply.data if isinstance(reply.data, dict) else {}
        header = data.get("batch_header") or {}
        if reply.code in (200, 201) and header.get("payout_batch_id"):
            # A new batch is PENDING until PayPal has processed its item.
            outcome = BATCH_STATUS.get(str(header.get("batch_status", "")).upper(), Outcome.PENDING)
            return ProviderResult(outcome, provider_reference=header["payout_batch_id"], provider_status="PENDING")
        link = _duplicate_link(data) if reply.code == 400 else ""
        if link.startswith(self.base_url + "/"):
            # Already placed under this sender_batch_id: follow PayPal's link to the original.
            return self._batch_result(link)
        if reply.code in (400, 422):
            return ProviderResult(Outcome.FAILED, error=_error_text(data, reply.code))
        if reply.code in TRANSIENT_CODES:
            return ProviderResult(Outcome.TRANSIENT, error=_error_text(data, reply.code))
        return ProviderResult(Outcome.UNKNOWN, error=_error_text(data, reply.code))

    def _batch_result(self, url):
        reply = self._call("GET", url)
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code != 200 or not data.get("batch_header"):
            result = ProviderResult(Outcome.TRANSIENT, error=reply.error or _error_text(data, reply.code))
        else:
            outcome, status = item_outcome(data)
            reference = data["batch_header"]["payout_batch_id"]
            result = ProviderResult(outcome, provider_reference=reference, provider_status=status)
        return http.record(result, reply, self)

    def fetch_status(self, reference, provider_reference=""):
        """By the batch id when we have it; else NOT_FOUND, and processing sends the batch
        again (see `lookup_by_create`): PayPal has no lookup by sender_batch_id."""
        if not provider_reference:
            return ProviderResult(Outcome.NOT_FOUND, request={"sender_batch_id": reference})
        result = self._batch_result(f"{self.base_url}/v1/payments/payouts/{provider_reference}")
        result.request = {"payout_batch_id": provider_reference}
        return result

    # Sending the same batch again is PayPal's documented way to learn what became of it.
    lookup_by_create = True

    def verify_webhook(self, headers, body):
        webhook_id = self.options.get("webhook_id") or settings.PAYOUTS_PAYPAL_WEBHOOK_ID
        try:
            event = json.loads(body)
        except ValueError:
            raise WebhookSignatureError("Malformed webhook body.") from None
        fields = {name: headers.get(header, "") for name, header in WEBHOOK_HEADERS.items()}
        if not webhook_id or not all(fields.values()) or not isinstance(event, dict):
            raise WebhookSignatureError("Missing PayPal transmission headers.")
        check = {**fields, "webhook_id": webhook_id, "webhook_event": event}
        reply = self._call("POST", self.base_url + "/v1/notifications/verify-webhook-signature", check)
        status = (reply.data or {}).get("verification_status") if isinstance(reply.data, dict) else None
        if reply.code != 200 or status not in ("SUCCESS", "FAILURE"):
            raise WebhookLookupError(f"PayPal could not verify the event now: {reply.error or reply.code}")
        if status != "SUCCESS":
            raise WebhookSignatureError("PayPal says the signature is not valid.")
        return _updates(event)


def _duplicate_link(data):
    """The original batch's URL when PayPal refused a repeated sender_batch_id, else ""."""
    details = data.get("details") or []
    if data.get("name") != DUPLICATE or not any(d.get("field") == "sender_batch_id" for d in details):
        return ""
    return next((link["href"] for link in data.get("links") or [] if link.get("rel") == "self"), "")


def _updates(event):
    if event.get("resource_type") != "payouts_item":
        return []  # batch-level events: the item events carry the outcome
    resource = event.get("resource") or {}
    reference = (resource.get("payout_item") or {}).get("sender_item_id")
    status = str(resource.get("transaction_status", "")).upper()
    if not reference or status not in ITEM_STATUS:
        return []
    return [
        WebhookUpdate(
            event_id=str(event.get("id", "")),
            reference=str(reference),
            outcome=ITEM_STATUS[status],
            provider_reference=str(resource.get("payout_batch_id", "")),
            provider_status=status,
        )
    ]


def _error_text(data, code):
    if isinstance(data, dict):
        details = data.get("details") or []
        message = data.get("message") or data.get("error_description") or ""
        if details and isinstance(details[0], dict):
            message = f"{message} ({details[0].get('field', '')}: {details[0].get('issue', '')})"
        if message:
            return f"HTTP {code}: {message}"[:500]
    return f"HTTP {code}"
