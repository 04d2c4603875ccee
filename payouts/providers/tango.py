"""Tango Card RaaS API v2, following its reference at developers.tangocard.com:

    POST {base}/orders        "Create an order under a specific account": customerIdentifier,
                              accountIdentifier, utid, amount (a number), deliveryMethod,
                              recipient, externalRefID (idempotent: a repeat answers 200 with
                              the original order; a new order answers 201)
    GET  {base}/orders?externalRefID=<ref>                     look an order up
    GET  {base}/orders?startDate=&endDate=&elementsPerBlock=&page=   the statement
    GET  {base}/catalogs      "Get catalog": brands and their items (UTIDs)

Authentication is HTTP Basic with the platform name (account option `platform_name`, else
PAYOUTS_TANGO_PLATFORM_NAME) and the platform key (the account's API key, else
PAYOUTS_TANGO_PLATFORM_KEY). The account's options name the Tango customer and account to
charge (`customer_identifier`, `account_identifier`) and the UTID per method
(`{"utids": {"gift_card": "U..."}}`); a gift card's destination may name its own UTID as
`product`. Gift cards are delivered by Tango's email (deliveryMethod EMAIL); vouchers are
EMBEDDED: the code comes back in the order for us to show. Tango pays out gift cards only:
PayPal, bank and UPI payouts fail at once, nothing is ordered.

externalRefID takes up to 100 alphanumeric characters, so our reference is sent without its
underscore (`gjp_<hex>` -> `gjp<hex>`) and mapped back in statements.

Order status -> outcome: COMPLETE -> succeeded, PENDING -> pending, FAILED -> failed,
CANCELLED -> cancelled. HTTP on create: 400/404/422 -> failed; 401/403/429 (Tango allows 1
order a second) and a refused connection -> transient; a timeout, 409, 5xx or an unreadable
answer -> unknown (look it up by externalRefID). Tango sends no webhooks for orders: orders
complete synchronously, and pending ones are polled.
"""

import base64
import re
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
    WebhookSignatureError,
)

ORDER_STATUS = {
    "COMPLETE": Outcome.SUCCEEDED,
    "PENDING": Outcome.PENDING,
    "FAILED": Outcome.FAILED,
    "CANCELLED": Outcome.CANCELLED,
}
PERMANENT_CODES = {400, 404, 422}
TRANSIENT_CODES = {401, 403, 429}
PAGE = 100
OUR_REFERENCE = re.compile(r"^gjp([0-9a-f]{32})$")


def external_ref(reference):
    """Our reference as Tango's externalRefID (alphanumeric only)."""
    return re.sub(r"[^A-Za-z0-9]", "", reference)


def our_reference(order):
    """The payout reference an order was placed under, or `tango:<referenceOrderID>`."""
    match = OUR_REFERENCE.match(str(order.get("externalRefID") or ""))
    return f"gjp_{match.group(1)}" if match else f"tango:{order.get('referenceOrderID', '')}"


class TangoProvider(PayoutProvider):
    name = "tango"
    # An order's `reward.credentials` {label: value} and `reward.credentialList` [{label,
    # value, type}] are the card itself (code, PIN, redemption URL); `recipient` and
    # `sender` {email, firstName, lastName} are personal ("Create an order" / "Get order"
    # responses, developers.tangocard.com).
    secret_fields = frozenset({"credentials", "credentialList", "recipient", "sender"})

    @property
    def options(self):
        return (self.account and self.account.options) or {}

    @property
    def base_url(self):
        return ((self.account and self.account.base_url) or settings.PAYOUTS_TANGO_BASE_URL).rstrip("/")

    def _call(self, method, path, body=None):
        name = self.options.get("platform_name") or settings.PAYOUTS_TANGO_PLATFORM_NAME
        key = (self.account and self.account.api_key) or settings.PAYOUTS_TANGO_PLATFORM_KEY
        token = base64.b64encode(f"{name}:{key}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        return http.call(method, self.base_url + path, body, headers=headers, guard=self.guarded)

    def _order_body(self, order, utid):
        destination = order.destination
        name = destination.get("name") or order.recipient_name or "Customer"
        first, _, last = name.partition(" ")
        body = {
            "externalRefID": external_ref(order.reference),
            "customerIdentifier": self.options.get("customer_identifier", ""),
            "accountIdentifier": self.options.get("account_identifier", ""),
            "utid": utid,
            "amount": float(order.amount),
            "deliveryMethod": "EMBEDDED" if order.method == "voucher" else "EMAIL",
        }
        if order.method != "voucher":
            body["recipient"] = {"email": destination.get("email") or order.recipient_email, "firstName": first}
            if last:
                body["recipient"]["lastName"] = last
        return body

    def create(self, order):
        utid = (order.destination.get("product") if order.method in ("gift_card", "voucher") else "") or (
            self.options.get("utids") or {}
        ).get("gift_card" if order.method == "voucher" else order.method)
        if not utid:
            return ProviderResult(Outcome.FAILED, error=f"Tango Card has no reward set up for {order.method} payouts.")
        body = self._order_body(order, utid)
        reply = self._call("POST", "/orders", body)
        result = self._create_result(reply)
        result.request = {**body, "recipient": "***"} if "recipient" in body else body
        return http.record(result, reply, self)

    def _create_result(self, reply):
        if reply.error:
            return ProviderResult(Outcome.UNKNOWN if reply.may_have_acted else Outcome.TRANSIENT, error=reply.error)
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code in (200, 201) and data.get("referenceOrderID"):
            return self._order_result(data)
        if reply.code in PERMANENT_CODES:
            return ProviderResult(Outcome.FAILED, error=_error_text(data, reply.code))
        if reply.code in TRANSIENT_CODES:
            return ProviderResult(Outcome.TRANSIENT, error=_error_text(data, reply.code))
        return ProviderResult(Outcome.UNKNOWN, error=_error_text(data, reply.code))

    def _order_result(self, order):
        status = str(order.get("status", "")).upper()
        return ProviderResult(
            ORDER_STATUS.get(status, Outcome.UNKNOWN),
            provider_reference=str(order["referenceOrderID"]),
            provider_status=status,
        )

    def fetch_status(self, reference, provider_reference=""):
        query = {"externalRefID": external_ref(reference), "elementsPerBlock": 10, "page": 0}
        reply = self._call("GET", "/orders?" + urllib.parse.urlencode(query))
        ref = query["externalRefID"]
        return http.lookup_result(reply, "orders", "externalRefID", ref, self._order_result, _error_text, self)

    def credentials(self, data):
        """An order's `reward.credentialList` ({label, value, type}: "text" codes and PINs,
        "url" redemption links), as Tango returns it on create and on lookup."""
        if not isinstance(data, dict):
            return []
        orders = data.get("orders") if isinstance(data, dict) and "orders" in data else [data]
        for order in orders if isinstance(orders, list) else []:
            found = [_credential(entry) for entry in ((order or {}).get("reward") or {}).get("credentialList") or []]
            if any(found):
                return [c for c in found if c is not None]
        return []

    def verify_webhook(self, headers, body):
        raise WebhookSignatureError("Tango Card sends no order webhooks; orders are looked up.")

    def statement(self, start, end):
        """Orders created in [start, end), 100 a page."""
        lines, page = [], 0
        while True:
            query = {
                "startDate": _timestamp(start),
                "endDate": _timestamp(end),
                "elementsPerBlock": PAGE,
                "page": page,
            }
            reply = self._call("GET", "/orders?" + urllib.parse.urlencode(query))
            data = reply.data if isinstance(reply.data, dict) else {}
            if reply.code != 200 or not isinstance(data.get("orders"), list):
                raise ProviderUnavailable(f"Tango statement: {reply.error or _error_text(data, reply.code)}")
            lines += [_statement_line(order) for order in data["orders"]]
            total = int((data.get("page") or {}).get("totalCount") or 0)
            page += 1
            if not data["orders"] or page * PAGE >= total:
                break
        # endDate is inclusive at Tango; our periods are [start, end).
        return [line for line in lines if line.created_at is None or line.created_at < end]

    def products(self, country="", currency=""):
        """Active catalogue items ("Get catalog"), flattened with their brand, as plain dicts."""
        reply = self._call("GET", "/catalogs")
        data = reply.data if isinstance(reply.data, dict) else {}
        if reply.code != 200 or not isinstance(data.get("brands"), list):
            raise ProviderUnavailable(f"Tango catalog: {reply.error or _error_text(data, reply.code)}")
        items = []
        for brand in data["brands"]:
            for item in brand.get("items") or []:
                if item.get("status") != "active" or brand.get("status") != "active":
                    continue
                if (country and country not in item.get("countries", [])) or (
                    currency and item.get("currencyCode") != currency
                ):
                    continue
                items.append({**item, "brand": {k: v for k, v in brand.items() if k != "items"}})
        return items


def _credential(entry):
    if not isinstance(entry, dict) or not entry.get("value"):
        return None
    label, kind = str(entry.get("label") or ""), str(entry.get("type") or "text").lower()
    if kind == "url":
        return Credential("link", label, str(entry["value"]))
    return Credential("pin" if "pin" in label.lower() else "code", label, str(entry["value"]))


def _timestamp(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _statement_line(order):
    denomination = order.get("denomination") or {}
    try:
        created = datetime.fromisoformat(str(order.get("createdAt")))
    except ValueError:
        created = None
    return StatementLine(
        reference=our_reference(order),
        provider_reference=str(order.get("referenceOrderID", "")),
        amount=Decimal(str(denomination.get("value", "0"))).quantize(Decimal("0.01")),
        currency=str(denomination.get("currencyCode", "")),
        outcome=ORDER_STATUS.get(str(order.get("status", "")).upper(), Outcome.UNKNOWN),
        created_at=created,
    )


def _error_text(data, code):
    if isinstance(data, dict):
        details = [e.get("message") for e in data.get("errors") or [] if isinstance(e, dict)]
        message = data.get("message") or ""
        if details and details[0]:
            message = f"{message} {data['errors'][0].get('path', '')}: {details[0]}".strip()
        if message:
            return f"HTTP {code}: {message}"[:500]
    return f"HTTP {code}"
