"""Tango Card RaaS API v2, as its reference documents it (developers.tangocard.com:
"Create an order under a specific account", "Get a list of orders placed under this
platform", "Get catalog"), for the adapter's tests.

What it enforces, as the real API does:
- HTTP Basic auth with the platform name and key, else 401;
- POST /orders: `customerIdentifier`, `accountIdentifier`, `utid` and a numeric `amount`
  (>= 0) required; the account must belong to the customer; `externalRefID` at most 100
  alphanumeric characters; the UTID must be in the catalogue, active, in
  the account's currency and its value range (or its face value for fixed items);
  `deliveryMethod` EMAIL requires `recipient.email` and `recipient.firstName`; undocumented
  fields are refused; a 1-TPS rate limit is simulated by `rate_limited`;
- `externalRefID` is idempotent: a repeat answers 200 with the original order;
- errors: `{"timestamp", "requestId", "path", "httpCode", "httpPhrase", "i18nKey", "message",
  "errors": [{"path", "i18nKey", "message"}]}`;
- GET /orders?externalRefID=&startDate=&endDate=&elementsPerBlock=&page= answers
  `{"page": {"number", "elementsPerBlock", "resultCount", "totalCount"}, "orders": [...]}`;
- GET /catalogs answers `{"catalogName", "brands": [{..., "items": [{"utid", ...}]}]}`.
"""

import base64
import re
from datetime import UTC, datetime

from tests.payouts.fakes import FakeServer

PLATFORM_NAME = "ganjaran-test"
PLATFORM_KEY = "test-platform-key"
CUSTOMER = "acme-customer"
ACCOUNT = "acme-myr-account"
ACCOUNT_CURRENCY = "MYR"
ORDER_KEYS = {
    "externalRefID", "customerIdentifier", "accountIdentifier", "utid", "deliveryMethod", "amount", "ptid",
    "sender", "recipient", "emailSubject", "message", "sendEmail", "etid", "campaign", "notes",
}  # fmt: skip
EXTERNAL_REF_RE = re.compile(r"^[A-Za-z0-9]{0,100}$")
CATALOG = {
    "catalogName": "Ganjaran test catalog",
    "brands": [
        {
            "brandKey": "B916708",
            "brandName": "Grab",
            "disclaimer": "Valid in Malaysia only.",
            "description": "<p>Rides, food and groceries.</p>",
            "shortDescription": "Grab gift card",
            "terms": "Not exchangeable for cash.",
            "imageUrls": {
                "80w-326ppi": "https://example.invalid/grab-80.png",
                "300w-326ppi": "https://example.invalid/grab-300.png",
            },
            "status": "active",
            "items": [
                {
                    "utid": "U857954",
                    "rewardName": "Grab Gift Card MYR",
                    "currencyCode": "MYR",
                    "status": "active",
                    "valueType": "VARIABLE_VALUE",
                    "rewardType": "gift card",
                    "minValue": 10.0,
                    "maxValue": 500.0,
                    "countries": ["MY"],
                    "credentialTypes": ["code"],
                    "redemptionInstructions": "Open the Grab app, Payment, Gift cards, enter the code.",
                },
                {
                    "utid": "U857955",
                    "rewardName": "Grab Gift Card MYR 50",
                    "currencyCode": "MYR",
                    "status": "active",
                    "valueType": "FIXED_VALUE",
                    "rewardType": "gift card",
                    "faceValue": 50.0,
                    "countries": ["MY"],
                    "credentialTypes": ["code"],
                    "redemptionInstructions": "Open the Grab app, Payment, Gift cards, enter the code.",
                },
            ],
        },
        {
            "brandKey": "B000001",
            "brandName": "Old Brand",
            "disclaimer": "",
            "description": "",
            "shortDescription": "",
            "terms": "",
            "imageUrls": {},
            "status": "inactive",
            "items": [
                {
                    "utid": "U000001",
                    "rewardName": "Old Brand MYR",
                    "currencyCode": "MYR",
                    "status": "inactive",
                    "valueType": "VARIABLE_VALUE",
                    "rewardType": "gift card",
                    "minValue": 1.0,
                    "maxValue": 100.0,
                    "countries": ["MY"],
                    "credentialTypes": ["code"],
                    "redemptionInstructions": "",
                }
            ],
        },
    ],
}


def error(code, phrase, i18n_key, message, path="/orders", errors=()):
    return code, {
        "timestamp": datetime.now(UTC).isoformat(),
        "requestId": "req-test",
        "path": path,
        "httpCode": code,
        "httpPhrase": phrase,
        "i18nKey": i18n_key,
        "message": message,
        "errors": [{"path": p, "i18nKey": k, "message": m} for p, k, m in errors],
    }


def invalid(field, message):
    return error(400, "Bad Request", "invalid.request", "The request is invalid.", errors=[(field, "invalid", message)])


class FakeTango(FakeServer):
    def __init__(self):
        super().__init__()
        self.orders = []
        self.create_calls = 0
        self.lookup_calls = 0
        self.rate_limited = 0  # the next N creates answer 429 (1 TPS exceeded), nothing placed
        self.answer_delay = 0.0
        self.error_after_create = False
        self.status = "COMPLETE"
        self.created_at = None
        # Cards issued with a PIN (and a redemption URL) besides the claim code, as some brands are.
        self.with_pin = False

    @property
    def orders_created(self):
        return len(self.orders)

    def by_reference(self, external_ref):
        return next((o for o in self.orders if o["externalRefID"] == external_ref), None)

    def handle(self, method, path, query, headers, body):
        expected = "Basic " + base64.b64encode(f"{PLATFORM_NAME}:{PLATFORM_KEY}".encode()).decode()
        if headers.get("Authorization") != expected:
            return error(401, "Unauthorized", "unauthorized", "Full authentication is required.", path)
        if method == "POST" and path == "/orders":
            return self._create(body)
        if method == "GET" and path == "/orders":
            return self._list(query)
        if method == "GET" and path == "/catalogs":
            return 200, CATALOG
        return error(404, "Not Found", "not.found", "No such resource.", path)

    def _items(self):
        return {item["utid"]: item for brand in CATALOG["brands"] for item in brand["items"]}

    def _validate(self, body):
        if not isinstance(body, dict):
            return invalid("body", "must be a JSON object")
        unknown = sorted(set(body) - ORDER_KEYS)
        if unknown:
            return invalid(unknown[0], "unrecognized field")
        for field in ("customerIdentifier", "accountIdentifier", "utid"):
            if not isinstance(body.get(field), str) or not body[field]:
                return invalid(field, "must not be null")
        if (body["customerIdentifier"], body["accountIdentifier"]) != (CUSTOMER, ACCOUNT):
            return error(400, "Bad Request", "account.not.found", "The account does not belong to the customer.")
        if not EXTERNAL_REF_RE.match(str(body.get("externalRefID", ""))):
            return invalid("externalRefID", "up to 100 alphanumeric characters")
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            return invalid("amount", "must be a number greater than or equal to 0")
        item = self._items().get(body["utid"])
        if item is None or item["status"] != "active":
            return error(400, "Bad Request", "utid.invalid", f"The utid {body['utid']} is not available.")
        if item["currencyCode"] != ACCOUNT_CURRENCY:
            return error(400, "Bad Request", "currency.mismatch", "The reward's currency is not the account's.")
        if item["valueType"] == "FIXED_VALUE" and amount != item["faceValue"]:
            return invalid("amount", f"must be the face value {item['faceValue']}")
        if item["valueType"] == "VARIABLE_VALUE" and not item["minValue"] <= amount <= item["maxValue"]:
            return invalid("amount", f"must be between {item['minValue']} and {item['maxValue']}")
        recipient = body.get("recipient") or {}
        if body.get("deliveryMethod", "EMAIL") == "EMAIL" and not (
            recipient.get("email") and recipient.get("firstName")
        ):
            return invalid("recipient", "email and firstName are required for EMAIL delivery")
        return None

    def _create(self, body):
        with self.lock:
            self.create_calls += 1
            if self.rate_limited > 0:
                self.rate_limited -= 1
                return error(429, "Too Many Requests", "rate.limit", "Rate limit exceeded: 1 request per second.")
            refused = self._validate(body)
            if refused:
                return refused
            existing = body.get("externalRefID") and self.by_reference(body["externalRefID"])
            if existing:
                return 200, existing
            order = self._place(body)
            return 201, order, self.answer_delay, 500 if self.error_after_create else None

    def _place(self, body):
        number = len(self.orders) + 1
        item = self._items()[body["utid"]]
        order = {
            "referenceOrderID": f"RA261203-{number}-01",
            "externalRefID": body.get("externalRefID", ""),
            "customerIdentifier": body["customerIdentifier"],
            "accountIdentifier": body["accountIdentifier"],
            "amountCharged": {
                "value": body["amount"],
                "currencyCode": item["currencyCode"],
                "exchangeRate": 1.0,
                "fee": 0.0,
                "total": body["amount"],
            },
            "denomination": {"value": body["amount"], "currencyCode": item["currencyCode"]},
            "utid": body["utid"],
            "rewardName": item["rewardName"],
            "recipient": body.get("recipient"),
            "status": self.status,
            "createdAt": (self.created_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "reward": self._reward(number, item),
        }
        self.orders.append(order)
        return order

    def _reward(self, number, item):
        listed = [{"label": "Claim Code", "value": f"GRAB-{number:04d}-TEST", "type": "text"}]
        if self.with_pin:
            listed += [
                {"label": "PIN", "value": f"{number:04d}", "type": "text"},
                {"label": "Redemption URL", "value": f"https://sandbox.tangocard.example/r/{number}", "type": "url"},
            ]
        return {
            "credentials": {entry["label"]: entry["value"] for entry in listed},
            "credentialList": listed,
            "redemptionInstructions": item["redemptionInstructions"],
        }

    def _list(self, query):
        with self.lock:
            self.lookup_calls += 1
            orders = list(self.orders)
            if "externalRefID" in query:
                orders = [o for o in orders if o["externalRefID"] == query["externalRefID"]]
            created = {o["referenceOrderID"]: datetime.fromisoformat(o["createdAt"]) for o in orders}
            if "startDate" in query:
                orders = [
                    o for o in orders if created[o["referenceOrderID"]] >= datetime.fromisoformat(query["startDate"])
                ]
            if "endDate" in query:
                orders = [
                    o for o in orders if created[o["referenceOrderID"]] <= datetime.fromisoformat(query["endDate"])
                ]
            size, number = int(query.get("elementsPerBlock", 10)), int(query.get("page", 0))
            block = orders[number * size : (number + 1) * size]
            page = {"number": number, "elementsPerBlock": size, "resultCount": len(block), "totalCount": len(orders)}
            return 200, {"page": page, "orders": block}
