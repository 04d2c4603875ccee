"""Tremendous (API v2), following its reference at developers.tremendous.com/reference:

    POST {base}/orders                         "Create order": `external_id` (our reference)
                                               makes it idempotent (the same body again -> 201
                                               with the original order; other parameters under
                                               the same external_id -> 409)
    GET  {base}/orders?external_id=<ref>       "List orders" filtered by our reference
    GET  {base}/orders?created_at[gte]=&created_at[lte]=&offset=&limit=   the statement
    GET  {base}/orders/{id}, {base}/rewards/{id}   what a webhook points at
    GET  {base}/products?country=&currency=    the catalogue ("List products")
    webhook  Tremendous-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>, body
             {"event", "uuid", "payload": {"resource": {"id", "type"}}}: we fetch the resource

The order body: `payment.funding_source_id`, and one `reward` with `value` {denomination (a
JSON number), currency_code}, `recipient` {name, email}, `delivery.method` (EMAIL, or LINK for
vouchers: the link is then ours to show) and either `products` (catalogue product ids) or
`campaign_id` (a Tremendous campaign: the recipient chooses among its products). Which
product pays a method comes from the program's ProviderAccount options:
`{"campaign_id": "...", "products": {"paypal": "<id>", "bank_transfer": "<id>", "gift_card": "<id>"}}`;
a gift card's destination may name its product. Tremendous collects bank and PayPal details
from the recipient on its own redemption page, so our destination details are never sent;
it has no UPI rail (use the `razorpayx` provider for India).

Order status -> outcome: OPEN, PENDING APPROVAL, PENDING INTERNAL PAYMENT APPROVAL -> pending;
EXECUTED -> by the reward's delivery status (SUCCEEDED -> succeeded, FAILED -> failed,
SCHEDULED/PENDING -> pending); FAILED -> failed; CANCELED -> cancelled. HTTP on create:
400/402/404/422 -> failed (permanent); 401/403/429 and a refused connection -> transient (no
order placed); a timeout, 409, 5xx or an unreadable answer -> unknown (look it up by
external_id, never order again blindly).
"""

import json
import urllib.parse
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from payouts.providers import http
from payouts.providers.base import (
    Credential,
    Outcome,
    PayoutProvider,
    ProviderResult,
    ProviderUnavailable,
    StatementLine,
    WebhookLookupError,
    WebhookSignatureError,
    WebhookUpdate,
    hmac_sha256_hex,
    signatures_match,
)

SIGNATURE_HEADER = "Tremendous-Webhook-Signature"
ORDER_STATUS = {
    "OPEN": Outcome.PENDING,
    "PENDING APPROVAL": Outcome.PENDING,
    "PENDING INTERNAL PAYMENT APPROVAL": Outcome.PENDING,
    "FAILED": Outcome.FAILED,
    "CANCELED": Outcome.CANCELLED,
}
DELIVERY_STATUS = {"SUCCEEDED": Outcome.SUCCEEDED, "FAILED": Outcome.FAILED}
PERMANENT_CODES = {400, 402, 404, 422}
TRANSIENT_CODES = {401, 403, 429}
PAGE = 500  # the documented maximum of List orders' `limit`


def order_outcome(order):
    """(outcome, provider status) of a Tremendous order object."""
    status = str(order.get("status", "")).upper()
    if status in ORDER_STATUS:
        return ORDER_STATUS[status], status
    if status == "EXECUTED":
        rewards = order.get("rewards") or [{}]
        delivery = str((rewards[0].get("delivery") or {}).get("status", "")).upper()
        return DELIVERY_STATUS.get(delivery, Outcome.PENDING), f"EXECUTED/{delivery or 'PENDING'}"
    return Outcome.UNKNOWN, status


def _timestamp(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value):
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


class TremendousProvider(PayoutProvider):
    name = "tremendous"
    # An order's rewards carry `recipient` {name, email, phone} and, for LINK delivery,
    # `delivery.link`: the recipient's redemption link, as good as the card itself
    # ("Create order" and "Retrieve order" responses; "Obtaining links").
    secret_fields = frozenset({"link", "recipient"})

    def _setting(self, field, name):
        return (self.account and getattr(self.account, field)) or getattr(settings, name)

    @property
    def options(self):
        return (self.account and self.account.options) or {}

    @property
    def base_url(self):
        return self._setting("base_url", "PAYOUTS_TREMENDOUS_BASE_URL").rstrip("/")

    def _call(self, method, path, body=None):
        api_key = self._setting("api_key", "PAYOUTS_TREMENDOUS_API_KEY")
        headers = {"Authorization": f"Bearer {api_key}"}
        return http.call(method, self.base_url + path, body, headers=headers, guard=self.guarded)

    def _reward_products(self, order):
        """{"products": [...]} or {"campaign_id": ...} for the order's method, or None."""
        configured = self.options.get("products") or {}
        product = order.destination.get("product") if order.method in ("gift_card", "voucher") else ""
        # A voucher is a gift card delivered as a link: it falls back to the gift-card product.
        product = product or configured.get(order.method) or (order.method == "voucher" and configured.get("gift_card"))
        if product:
            return {"products": [product]}
        campaign = self.options.get("campaign_id")
        if campaign and order.method in ("gift_card", "voucher"):
            return {"campaign_id": campaign}
        return None

    def _order_body(self, order, choice):
        destination = order.destination
        reward = {
            **choice,
            "value": {"denomination": float(order.amount), "currency_code": order.currency},
            "recipient": {
                "name": destination.get("name") or destination.get("account_name") or order.recipient_name,
                "email": destination.get("email") or order.recipient_email,
            },
            "delivery": {"method": "LINK" if order.method == "voucher" else "EMAIL"},
        }
        funding_source = self._setting("funding_source_id", "PAYOUTS_TREMENDOUS_FUNDING_SOURCE_ID")
        return {"external_id": order.reference, "payment": {"funding_source_id": funding_source}, "reward": reward}

    def create(self, order):
        choice = self._reward_products(order)
        if choice is None:
            why = f"No Tremendous product is set up for {order.method} payouts (provider account options)."
            if order.method == "upi":
                why = "Tremendous offers no UPI payouts."
            return ProviderResult(Outcome.FAILED, error=why)
        body = self._order_body(order, choice)
        reply = self._call("POST", "/orders", body)
        result = self._create_result(reply)
        result.request = {**body, "reward": {**body["reward"], "recipient": "***"}}
        return http.record(result, reply, self)

    def _create_result(self, reply):
        if reply.error:
            return ProviderResult(Outcome.UNKNOWN if reply.may_have_acted else Outcome.TRANSIENT, error=reply.error)
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code in (200, 201) and isinstance(data.get("order"), dict):
            return self._order_result(data["order"])
        if reply.code in PERMANENT_CODES:
            return ProviderResult(Outcome.FAILED, error=_error_text(data, reply.code))
        if reply.code in TRANSIENT_CODES:
            return ProviderResult(Outcome.TRANSIENT, error=_error_text(data, reply.code))
        return ProviderResult(Outcome.UNKNOWN, error=_error_text(data, reply.code))

    def _order_result(self, order):
        outcome, status = order_outcome(order)
        return ProviderResult(outcome, provider_reference=str(order.get("id", "")), provider_status=status)

    def fetch_status(self, reference, provider_reference=""):
        reply = self._call("GET", "/orders?" + urllib.parse.urlencode({"external_id": reference}))
        return http.lookup_result(reply, "orders", "external_id", reference, self._order_result, _error_text, self)

    def credentials(self, data):
        """A LINK reward's `delivery.link` ("Obtaining links",
        developers.tremendous.com/docs/link-delivery): ours to show the recipient. EMAIL and
        PHONE rewards carry none (Tremendous delivers them)."""
        if not isinstance(data, dict):
            return []
        orders = [data.get("order")] if isinstance(data, dict) and "order" in data else (data or {}).get("orders")
        for order in orders if isinstance(orders, list) else []:
            for reward in (order or {}).get("rewards") or []:
                link = (reward.get("delivery") or {}).get("link")
                if link:
                    return [Credential("link", "Redemption link", str(link))]
        return []

    def verify_webhook(self, headers, body):
        secret = self._setting("webhook_secret", "PAYOUTS_TREMENDOUS_WEBHOOK_SECRET")
        given = (headers.get(SIGNATURE_HEADER) or "").removeprefix("sha256=")
        if not secret or not signatures_match(hmac_sha256_hex(secret, body), given):
            raise WebhookSignatureError("Bad signature.")
        try:
            event = json.loads(body)
            resource = event["payload"]["resource"]
            event_id, kind, resource_id = str(event["uuid"]), resource["type"], str(resource["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookSignatureError(f"Malformed webhook body: {exc}") from None
        if kind not in ("orders", "rewards"):
            return []  # funding sources, products, members...: nothing a payout waits for
        order = self._webhook_order(kind, urllib.parse.quote(resource_id, safe=""))
        if not order.get("external_id"):
            return []  # an order placed outside Ganjaran (the dashboard)
        outcome, status = order_outcome(order)
        return [
            WebhookUpdate(
                event_id=event_id,
                reference=str(order["external_id"]),
                outcome=outcome,
                provider_reference=str(order.get("id", "")),
                provider_status=status,
            )
        ]

    def _webhook_order(self, kind, resource_id):
        """The order a webhook's resource belongs to; WebhookLookupError if it can't be read now."""
        if kind == "rewards":
            reply = self._call("GET", f"/rewards/{resource_id}")
            reward = reply.data.get("reward") if reply.code == 200 and isinstance(reply.data, dict) else None
            if not isinstance(reward, dict) or not reward.get("order_id"):
                raise WebhookLookupError(f"Reward {resource_id}: {reply.error or _error_text(reply.data, reply.code)}")
            resource_id = urllib.parse.quote(str(reward["order_id"]), safe="")
        reply = self._call("GET", f"/orders/{resource_id}")
        order = reply.data.get("order") if reply.code == 200 and isinstance(reply.data, dict) else None
        if not isinstance(order, dict):
            raise WebhookLookupError(f"Order {resource_id}: {reply.error or _error_text(reply.data, reply.code)}")
        return order

    def statement(self, start, end):
        """Orders created in [start, end), a page of 500 at a time ("List orders")."""
        lines, offset = [], 0
        while True:
            query = {
                "created_at[gte]": _timestamp(start),
                "created_at[lte]": _timestamp(end),
                "limit": PAGE,
                "offset": offset,
            }
            reply = self._call("GET", "/orders?" + urllib.parse.urlencode(query))
            data = reply.data if isinstance(reply.data, dict) else {}
            if reply.code != 200 or not isinstance(data.get("orders"), list):
                raise ProviderUnavailable(f"Tremendous statement: {reply.error or _error_text(data, reply.code)}")
            lines += [self._statement_line(order) for order in data["orders"]]
            offset += len(data["orders"])
            if not data["orders"] or offset >= int(data.get("total_count") or 0):
                break
        # created_at[lte] is inclusive; our periods are [start, end).
        return [line for line in lines if line.created_at is None or line.created_at < end]

    def _statement_line(self, order):
        value = ((order.get("rewards") or [{}])[0]).get("value") or {}
        outcome, _ = order_outcome(order)
        return StatementLine(
            reference=str(order.get("external_id") or f"tremendous:{order.get('id')}"),
            provider_reference=str(order.get("id", "")),
            amount=Decimal(str(value.get("denomination", "0"))).quantize(Decimal("0.01")),
            currency=str(value.get("currency_code", "")),
            outcome=outcome,
            created_at=_parse_time(order.get("created_at")),
        )

    def products(self, country="", currency=""):
        """The catalogue ("List products"), each as a plain dict for catalogue sync."""
        query = {k: v for k, v in {"country": country, "currency": currency}.items() if v}
        reply = self._call("GET", "/products" + ("?" + urllib.parse.urlencode(query) if query else ""))
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code != 200 or not isinstance(data.get("products"), list):
            raise ProviderUnavailable(f"Tremendous products: {reply.error or _error_text(data, reply.code)}")
        return data["products"]


def _error_text(data, code):
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, dict) and errors.get("message"):
            return f"HTTP {code}: {errors['message']}"[:500]
        if isinstance(errors, list) and errors:
            return f"HTTP {code}: {errors[0]}"[:500]
    return f"HTTP {code}"
