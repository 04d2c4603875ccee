"""Tremendous API v2, as its reference documents it (developers.tremendous.com/reference:
"Create order", "List orders", "Retrieve order", "Retrieve single reward", "List products",
"Webhooks"), for the adapter's tests.

What it enforces, as the real API does:
- `Authorization: Bearer <key>`, else 401 `{"errors": {"message": ...}}`;
- POST /orders: `payment.funding_source_id` required; `reward` with either `products` (known
  product ids) or `campaign_id` (`[A-Z0-9]{4,20}`); `value.denomination` a JSON number within
  the product's SKU bands and `value.currency_code` one of its currencies; `delivery.method`
  EMAIL, LINK or PHONE, with the recipient's email (EMAIL) or phone (PHONE); undocumented
  fields are refused (400 with `errors.payload` naming them);
- `external_id` makes the order idempotent: the same body again answers 201 with the
  original order, another body under the same external_id answers 409;
- GET /orders?external_id=&created_at[gte]=&created_at[lte]=&offset=&limit= (max 500),
  GET /orders/{id}, GET /rewards/{id}, GET /products?country=&currency=;
- webhooks: `{"event", "uuid", "created_utc", "payload": {"resource": {"id", "type"}}}`
  signed with `Tremendous-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`; the
  receiver fetches the resource to learn what changed.
"""

import json
import re
import uuid
from datetime import UTC, datetime

from payouts.providers.base import hmac_sha256_hex
from tests.payouts.fakes import FakeServer

API_KEY = "test-api-key"
WEBHOOK_SECRET = "test-webhook-secret"
CAMPAIGN_RE = re.compile(r"^[A-Z0-9]{4,20}$")
ORDER_KEYS = {"external_id", "payment", "reward"}
REWARD_KEYS = {"campaign_id", "products", "value", "recipient", "deliver_at", "custom_fields", "language", "delivery"}
DELIVERY_METHODS = {"EMAIL", "LINK", "PHONE"}
PRODUCTS = [
    {
        "id": "OKMHM2X2OHYV",
        "name": "Amazon.com",
        "description": "Amazon.com gift card",
        "category": "merchant_card",
        "subcategory": "general_merchandise",
        "disclosure": "Restrictions apply.",
        "skus": [{"min": 5, "max": 2000}],
        "currency_codes": ["USD"],
        "countries": [{"abbr": "US"}],
        "images": [{"src": "https://example.invalid/amazon.png", "type": "card", "content_type": "image/png"}],
        "usage_instructions": "Enter the code at checkout.",
    },
    {
        "id": "GRABMY00001",
        "name": "Grab",
        "description": "Grab gift card for rides and food",
        "category": "merchant_card",
        "subcategory": "food_and_drink",
        "disclosure": "Valid in Malaysia.",
        "skus": [{"min": 10, "max": 500}],
        "currency_codes": ["MYR"],
        "countries": [{"abbr": "MY"}],
        "images": [{"src": "https://example.invalid/grab.png", "type": "logo", "content_type": "image/png"}],
        "usage_instructions": "Add the code in the Grab app under Payment.",
    },
    {
        "id": "KV934TZ93NQM",
        "name": "PayPal",
        "description": "Cash to a PayPal account",
        "category": "paypal",
        "disclosure": "",
        "skus": [{"min": 1, "max": 5000}],
        "currency_codes": ["USD", "MYR"],
        "countries": [{"abbr": "US"}, {"abbr": "MY"}],
        "images": [],
    },
]
CAMPAIGNS = {"CAMPAIGN01": ["GRABMY00001", "KV934TZ93NQM"]}


def error(code, message, payload=None):
    return code, {"status": code, "errors": {"message": message, "payload": payload or {}}}


class FakeTremendous(FakeServer):
    def __init__(self):
        super().__init__()
        self.orders = {}  # order id -> order
        self.rewards = {}  # reward id -> reward (with order_id)
        self.bodies = {}  # external_id -> the create body first seen
        self.create_calls = 0
        self.lookup_calls = 0
        # Failure switches.
        self.transient_failures = 0  # the next N creates answer 429 and place nothing
        self.answer_delay = 0.0  # place the order, then wait this long before answering
        self.error_after_create = False  # place the order, then answer 500
        self.insufficient_funds = False  # creates answer 402 (the documented "payment required")
        self.delivery_status = "SUCCEEDED"  # EMAIL rewards' delivery status after placing
        self.created_at = None  # fixed creation time for statement tests

    @property
    def orders_created(self):
        return len(self.orders)

    def order_by_external_id(self, external_id):
        return next((o for o in self.orders.values() if o.get("external_id") == external_id), None)

    # --- webhooks -----------------------------------------------------------------------
    def set_delivery(self, external_id, status):
        order = self.order_by_external_id(external_id)
        for reward in order["rewards"]:
            reward["delivery"]["status"] = status
            self.rewards[reward["id"]]["delivery"]["status"] = status

    def webhook(self, external_id, event="REWARDS.DELIVERY.SUCCEEDED", event_id=None, secret=WEBHOOK_SECRET):
        """(body, headers) of a signed webhook about the reward of one of our orders."""
        order = self.order_by_external_id(external_id)
        body = json.dumps(
            {
                "event": event,
                "uuid": event_id or str(uuid.uuid4()),
                "created_utc": datetime.now(UTC).isoformat(),
                "payload": {"resource": {"id": order["rewards"][0]["id"], "type": "rewards"}, "meta": {}},
            }
        ).encode()
        return body, {"Tremendous-Webhook-Signature": "sha256=" + hmac_sha256_hex(secret, body)}

    # --- the API ------------------------------------------------------------------------
    def handle(self, method, path, query, headers, body):
        if headers.get("Authorization") != f"Bearer {API_KEY}":
            return 401, {"status": 401, "errors": {"message": "Unauthorized: invalid API key"}}
        if method == "POST" and path == "/orders":
            return self._create(body)
        if method == "GET" and path == "/orders":
            return self._list(query)
        if method == "GET" and path.startswith("/orders/"):
            order = self.orders.get(path.removeprefix("/orders/"))
            return (200, {"order": order}) if order else error(404, "Order not found")
        if method == "GET" and path.startswith("/rewards/"):
            reward = self.rewards.get(path.removeprefix("/rewards/"))
            return (200, {"reward": reward}) if reward else error(404, "Reward not found")
        if method == "GET" and path == "/products":
            return 200, {"products": self._products(query)}
        return error(404, "Not found")

    def _products(self, query):
        countries = set(filter(None, query.get("country", "").split(",")))
        currencies = set(filter(None, query.get("currency", "").split(",")))
        return [
            p
            for p in PRODUCTS
            if (not countries or countries & {c["abbr"] for c in p["countries"]})
            and (not currencies or currencies & set(p["currency_codes"]))
        ]

    def _validate(self, body):
        """The documented request schema; returns an error answer or None."""
        if not isinstance(body, dict):
            return error(400, "Request body must be a JSON object")
        unknown = set(body) - ORDER_KEYS
        reward = body.get("reward")
        if isinstance(reward, dict):
            unknown |= {f"reward.{k}" for k in set(reward) - REWARD_KEYS}
        if unknown:
            return error(400, f"Unknown parameters: {', '.join(sorted(unknown))}", {k: ["unknown"] for k in unknown})
        funding = (body.get("payment") or {}).get("funding_source_id")
        if not isinstance(funding, str) or not funding:
            return error(400, "payment.funding_source_id is required", {"payment": {"funding_source_id": ["missing"]}})
        if not isinstance(reward, dict):
            return error(400, "reward is required", {"reward": ["missing"]})
        products, campaign = reward.get("products"), reward.get("campaign_id")
        if not products and not campaign:
            return error(400, "Either products or campaign_id must be specified", {"reward": ["products"]})
        if campaign is not None and (not CAMPAIGN_RE.match(str(campaign)) or campaign not in CAMPAIGNS):
            return error(400, "campaign_id is invalid", {"reward": {"campaign_id": ["invalid"]}})
        ids = products or CAMPAIGNS.get(campaign, [])
        known = {p["id"]: p for p in PRODUCTS}
        if not isinstance(ids, list) or any(i not in known for i in ids):
            return error(400, "products contains an unknown product id", {"reward": {"products": ["invalid"]}})
        value = reward.get("value") or {}
        amount, currency = value.get("denomination"), value.get("currency_code", "USD")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
            return error(400, "value.denomination must be a positive number", {"reward": {"value": ["invalid"]}})
        for product_id in ids:
            product = known[product_id]
            if currency not in product["currency_codes"]:
                return error(
                    400, f"{product['name']} is not available in {currency}", {"reward": {"value": ["currency"]}}
                )
            if not any(sku["min"] <= amount <= sku["max"] for sku in product["skus"]):
                return error(400, f"{product['name']} does not allow {amount}", {"reward": {"value": ["denomination"]}})
        method = (reward.get("delivery") or {}).get("method", "EMAIL")
        recipient = reward.get("recipient") or {}
        if method not in DELIVERY_METHODS:
            return error(400, "delivery.method is invalid", {"reward": {"delivery": ["method"]}})
        if method == "EMAIL" and not recipient.get("email"):
            return error(400, "recipient.email is required for EMAIL delivery", {"reward": {"recipient": ["email"]}})
        if method == "PHONE" and not recipient.get("phone"):
            return error(400, "recipient.phone is required for PHONE delivery", {"reward": {"recipient": ["phone"]}})
        if not recipient.get("name"):
            return error(400, "recipient.name is required", {"reward": {"recipient": ["name"]}})
        return None

    def _create(self, body):
        with self.lock:
            self.create_calls += 1
            if self.transient_failures > 0:
                self.transient_failures -= 1
                return error(429, "Too many requests")
            refused = self._validate(body)
            if refused:
                return refused
            external_id = body.get("external_id")
            if external_id and external_id in self.bodies:
                if self.bodies[external_id] != body:
                    return error(409, "An order with this external_id and other parameters exists")
                return 201, {"order": self.order_by_external_id(external_id)}
            if self.insufficient_funds:
                return error(402, "Insufficient funds in the funding source")
            order = self._place(body)
            return 201, {"order": order}, self.answer_delay, 500 if self.error_after_create else None

    def _place(self, body):
        number = len(self.orders) + 1
        reward_body = body["reward"]
        method = (reward_body.get("delivery") or {}).get("method", "EMAIL")
        created = (self.created_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        reward = {
            "id": f"RWD{number:07d}",
            "order_id": f"ORD{number:07d}",
            "created_at": created,
            "value": reward_body["value"],
            "recipient": reward_body["recipient"],
            "delivery": {"method": method, "status": "SUCCEEDED" if method == "LINK" else self.delivery_status},
        }
        if method == "LINK":
            reward["delivery"]["link"] = f"https://testflight.tremendous.example/rewards/payout/{reward['id']}"
        denomination = reward_body["value"]["denomination"]
        order = {
            "id": reward["order_id"],
            "external_id": body.get("external_id"),
            "campaign_id": reward_body.get("campaign_id"),
            "created_at": created,
            "status": "EXECUTED",
            "channel": "API",
            "payment": {"subtotal": denomination, "total": denomination, "fees": 0},
            "rewards": [reward],
        }
        self.orders[order["id"]] = order
        self.rewards[reward["id"]] = reward
        if body.get("external_id"):
            self.bodies[body["external_id"]] = body
        return order

    def _list(self, query):
        with self.lock:
            self.lookup_calls += 1
            try:
                limit, offset = int(query.get("limit", 10)), int(query.get("offset", 0))
            except ValueError:
                return error(400, "limit and offset must be integers")
            if not 1 <= limit <= 500:
                return error(400, "limit must be between 1 and 500")
            orders = sorted(self.orders.values(), key=lambda o: o["created_at"], reverse=True)
            if "external_id" in query:
                orders = [o for o in orders if o["external_id"] == query["external_id"]]
            created = {o["id"]: datetime.fromisoformat(o["created_at"]) for o in orders}
            if "created_at[gte]" in query:
                orders = [o for o in orders if created[o["id"]] >= datetime.fromisoformat(query["created_at[gte]"])]
            if "created_at[lte]" in query:
                orders = [o for o in orders if created[o["id"]] <= datetime.fromisoformat(query["created_at[lte]"])]
            return 200, {"orders": orders[offset : offset + limit], "total_count": len(orders)}
