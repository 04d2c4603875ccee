"""HTTP adapter modelled on Tremendous' orders API (and Tango Card's RaaS, which works the
same way): our reference is the order's `external_id`, the provider's idempotency key.

    POST {base}/orders                     place an order; a repeat with the same
                                           external_id returns the original (200/201)
    GET  {base}/orders?external_id=<ref>   look an order up by our reference
    webhook  Tremendous-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>

Order status -> outcome: CART / PENDING APPROVAL / PENDING INTERNAL PAYMENT APPROVAL ->
pending; EXECUTED -> by the reward's delivery status (SUCCEEDED -> succeeded, FAILED ->
failed, REVERSED -> reversed, anything else -> pending); FAILED -> failed; CANCELED ->
cancelled. HTTP: 400/402/404/422 on create -> failed (permanent, not retried); 401/403/429
and a refused connection -> transient (the order was not placed); a timeout, 409, 5xx or an
unreadable answer -> unknown (the order may exist: look it up, never re-order blindly).

Base URL, API key, webhook secret and funding source come from the program's
ProviderAccount, else from settings PAYOUTS_TREMENDOUS_*.
"""

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from engagement import outbound_http
from payouts.providers.base import (
    Outcome,
    PayoutProvider,
    ProviderResult,
    WebhookSignatureError,
    WebhookUpdate,
    hmac_sha256_hex,
    signatures_match,
)

SIGNATURE_HEADER = "Tremendous-Webhook-Signature"
ORDER_STATUS = {
    "CART": Outcome.PENDING,
    "PENDING APPROVAL": Outcome.PENDING,
    "PENDING INTERNAL PAYMENT APPROVAL": Outcome.PENDING,
    "FAILED": Outcome.FAILED,
    "CANCELED": Outcome.CANCELLED,
}
DELIVERY_STATUS = {"SUCCEEDED": Outcome.SUCCEEDED, "FAILED": Outcome.FAILED, "REVERSED": Outcome.REVERSED}
PRODUCTS = {"paypal": "PAYPAL", "bank_transfer": "BANK_TRANSFER", "upi": "UPI"}
PERMANENT_CODES = {400, 402, 404, 422}
TRANSIENT_CODES = {401, 403, 429}
MAX_BODY = 2000


def order_outcome(order):
    """(outcome, provider status) of a Tremendous-style order object."""
    status = str(order.get("status", "")).upper()
    if status in ORDER_STATUS:
        return ORDER_STATUS[status], status
    if status == "EXECUTED":
        rewards = order.get("rewards") or [{}]
        delivery = str((rewards[0].get("delivery") or {}).get("status", "")).upper()
        return DELIVERY_STATUS.get(delivery, Outcome.PENDING), f"EXECUTED/{delivery or 'PENDING'}"
    return Outcome.UNKNOWN, status


class TremendousProvider(PayoutProvider):
    name = "tremendous"

    def _setting(self, field, name):
        return (self.account and getattr(self.account, field)) or getattr(settings, name)

    @property
    def base_url(self):
        return self._setting("base_url", "PAYOUTS_TREMENDOUS_BASE_URL").rstrip("/")

    def _opener(self):
        # A base URL set in the admin is checked again at every call (SSRF, DNS rebinding):
        # only public addresses, loopback when PAYOUTS_ALLOW_LOOPBACK_BASE_URL. The settings'
        # default URL is the operator's own choice and is used as is.
        if self.account and self.account.base_url:
            return outbound_http.build_opener(allow_loopback=settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL)
        return urllib.request.build_opener()

    def _request(self, method, path, body=None):
        """One HTTP call; returns (status code or None, parsed JSON or None, raw text, error kind)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._setting('api_key', 'PAYOUTS_TREMENDOUS_API_KEY')}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        if body and body.get("external_id"):
            request.add_header("Idempotency-Key", body["external_id"])
        try:
            with self._opener().open(request, timeout=settings.PAYOUTS_HTTP_TIMEOUT_SECONDS) as response:
                return response.status, *_parse(response.read()), None
        except urllib.error.HTTPError as exc:
            return exc.code, *_parse(exc.read()), None
        except TimeoutError:
            return None, None, "", "timeout"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, outbound_http.BlockedAddress):
                return None, None, "", "connection: address not allowed"
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                return None, None, "", "timeout"
            # Refused / unreachable: the request never reached the provider.
            return None, None, "", f"connection: {exc.reason}"
        except (ConnectionError, OSError) as exc:
            # Reset after sending: the provider may have acted on it.
            return None, None, "", f"reset: {exc}"

    def _order_body(self, order):
        destination = order.destination
        reward = {
            "value": {"denomination": str(order.amount), "currency_code": order.currency},
            "recipient": {
                "name": destination.get("name") or destination.get("account_name") or order.recipient_name,
                "email": destination.get("email") or order.recipient_email,
            },
            "delivery": {"method": "LINK" if order.method == "voucher" else "EMAIL"},
            "products": [destination.get("product") or PRODUCTS.get(order.method) or "GIFT_CARD"],
        }
        if order.method in ("bank_transfer", "upi"):
            reward["payout_details"] = {k: v for k, v in destination.items() if k not in ("name", "email")}
        funding_source = self._setting("funding_source_id", "PAYOUTS_TREMENDOUS_FUNDING_SOURCE_ID")
        return {"external_id": order.reference, "payment": {"funding_source_id": funding_source}, "reward": reward}

    def create(self, order):
        body = self._order_body(order)
        started = time.monotonic()
        code, data, raw, error = self._request("POST", "/orders", body)
        duration = int((time.monotonic() - started) * 1000)
        masked = {**body, "reward": {**body["reward"], "payout_details": "***", "recipient": "***"}}
        result = self._create_result(code, data, error)
        result.request, result.response_code, result.response_body, result.duration_ms = masked, code, raw, duration
        return result

    def _create_result(self, code, data, error):
        if error == "timeout" or (error and error.startswith("reset")):
            return ProviderResult(Outcome.UNKNOWN, error=error)
        if error:
            return ProviderResult(Outcome.TRANSIENT, error=error)
        if code in (200, 201) and isinstance(data, dict) and isinstance(data.get("order"), dict):
            return self._order_result(data["order"])
        if code in PERMANENT_CODES:
            return ProviderResult(Outcome.FAILED, error=_error_text(data, code))
        if code in TRANSIENT_CODES:
            return ProviderResult(Outcome.TRANSIENT, error=_error_text(data, code))
        return ProviderResult(Outcome.UNKNOWN, error=_error_text(data, code))

    def _order_result(self, order):
        outcome, status = order_outcome(order)
        return ProviderResult(outcome, provider_reference=str(order.get("id", "")), provider_status=status)

    def fetch_status(self, reference):
        started = time.monotonic()
        path = "/orders?" + urllib.parse.urlencode({"external_id": reference})
        code, data, raw, error = self._request("GET", path)
        if error:
            result = ProviderResult(Outcome.TRANSIENT, error=error)
        elif code == 404:
            result = ProviderResult(Outcome.NOT_FOUND)
        elif code == 200 and isinstance(data, dict) and isinstance(data.get("orders"), list):
            orders = [o for o in data["orders"] if o.get("external_id") == reference]
            result = self._order_result(orders[0]) if orders else ProviderResult(Outcome.NOT_FOUND)
        else:
            result = ProviderResult(Outcome.TRANSIENT, error=_error_text(data, code))
        result.request = {"external_id": reference}
        result.response_code, result.response_body = code, raw
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def verify_webhook(self, headers, body):
        secret = self._setting("webhook_secret", "PAYOUTS_TREMENDOUS_WEBHOOK_SECRET")
        given = (headers.get(SIGNATURE_HEADER) or "").removeprefix("sha256=")
        if not secret or not signatures_match(hmac_sha256_hex(secret, body), given):
            raise WebhookSignatureError("Bad signature.")
        try:
            event = json.loads(body)
            order = event["payload"]["order"]
            outcome, status = order_outcome(order)
            return [
                WebhookUpdate(
                    event_id=str(event["uuid"]),
                    reference=str(order["external_id"]),
                    outcome=outcome,
                    provider_reference=str(order.get("id", "")),
                    provider_status=status,
                )
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureError(f"Malformed webhook body: {exc}") from None


def _parse(raw):
    text = raw.decode("utf-8", "replace")[:MAX_BODY]
    try:
        return json.loads(raw), text
    except ValueError:
        return None, text


def _error_text(data, code):
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict) and errors.get("message"):
            return f"HTTP {code}: {errors['message']}"[:500]
        if isinstance(errors, list) and errors:
            return f"HTTP {code}: {errors[0]}"[:500]
    return f"HTTP {code}"
