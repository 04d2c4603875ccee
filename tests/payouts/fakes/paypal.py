"""PayPal Payouts (v1), as its reference documents it (developer.paypal.com/api/payments.payouts-batch/v1:
"Create batch payout", "Show payout batch details"; /api/rest "Get access token";
/api/webhooks/v1 "Verify webhook signature"), for the adapter's tests.

What it enforces, as the real API does:
- POST /v1/oauth2/token with HTTP Basic client id and secret and `grant_type=client_credentials`
  answers a bearer token; every other call needs `Authorization: Bearer <token>` (401 else);
- POST /v1/payments/payouts: `sender_batch_header.sender_batch_id` and `items` (1 to 15,000)
  required; each item's `amount` {value: a STRING with the currency's decimals, currency},
  `receiver` (an email for recipient_type EMAIL); a `sender_batch_id` used in the last 30
  days is refused (400 USER_BUSINESS_ERROR) with a link to the original batch;
- errors: `{"name", "message", "debug_id", "details": [{"field", "location", "issue"}], "links"}`;
- GET /v1/payments/payouts/{payout_batch_id}: `{"batch_header", "items": [...]}`;
- webhooks carry PAYPAL-TRANSMISSION-ID/-TIME/-SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO and are
  verified by POST /v1/notifications/verify-webhook-signature, which answers
  `{"verification_status": "SUCCESS" | "FAILURE"}` (here: an HMAC only this fake knows).
"""

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from tests.payouts.fakes import FakeServer

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
WEBHOOK_ID = "WH-TEST-0001"
ZERO_DECIMAL = {"JPY", "HUF", "TWD"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SIGNING_KEY = b"paypal-fake-transmission-key"


def error(code, name, message, details=(), links=()):
    return code, {
        "name": name,
        "message": message,
        "debug_id": "debug-test",
        "information_link": "https://developer.paypal.com/docs/api/payments.payouts-batch/#errors",
        "details": [{"field": f, "location": "body", "issue": i} for f, i in details],
        "links": list(links),
    }


class FakePayPal(FakeServer):
    def __init__(self):
        super().__init__()
        self.tokens = set()
        self.batches = {}  # payout_batch_id -> batch
        self.token_calls = 0
        self.create_calls = 0
        self.get_calls = 0
        self.server_errors = 0  # the next N creates place the batch, then answer 500
        self.item_status = "SUCCESS"

    @property
    def batches_created(self):
        return len(self.batches)

    def by_sender_batch_id(self, sender_batch_id):
        return next(
            (
                b
                for b in self.batches.values()
                if b["batch_header"]["sender_batch_header"]["sender_batch_id"] == sender_batch_id
            ),
            None,
        )

    def set_item_status(self, sender_batch_id, status):
        batch = self.by_sender_batch_id(sender_batch_id)
        batch["items"][0]["transaction_status"] = status
        batch["batch_header"]["batch_status"] = "SUCCESS" if status != "PENDING" else "PROCESSING"

    def webhook(self, sender_batch_id, event_type="PAYMENT.PAYOUTS-ITEM.SUCCEEDED", event_id=None, forged=False):
        """(body, headers) of a webhook about the item of one of our batches."""
        item = self.by_sender_batch_id(sender_batch_id)["items"][0]
        body = json.dumps(
            {
                "id": event_id or f"WH-{uuid.uuid4().hex[:17].upper()}",
                "event_version": "1.0",
                "create_time": datetime.now(UTC).isoformat(),
                "resource_type": "payouts_item",
                "event_type": event_type,
                "resource": item,
            }
        ).encode()
        transmission_id, when = str(uuid.uuid4()), datetime.now(UTC).isoformat()
        signature = self._sign(transmission_id, when, body)
        headers = {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": "forged" if forged else signature,
            "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-TEST",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }
        return body, headers

    def _sign(self, transmission_id, when, body):
        message = f"{transmission_id}|{when}|{WEBHOOK_ID}|{hashlib.sha256(body).hexdigest()}".encode()
        return base64.b64encode(hmac.new(_SIGNING_KEY, message, hashlib.sha256).digest()).decode()

    # --- the API --------------------------------------------------------------------------
    def handle(self, method, path, query, headers, body):
        if method == "POST" and path == "/v1/oauth2/token":
            return self._token(headers, body)
        token = (headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in self.tokens:
            return 401, {"error": "invalid_token", "error_description": "Token signature verification failed"}
        if method == "POST" and path == "/v1/payments/payouts":
            return self._create(body)
        if method == "GET" and path.startswith("/v1/payments/payouts/"):
            with self.lock:
                self.get_calls += 1
            batch = self.batches.get(path.rsplit("/", 1)[-1])
            return (200, batch) if batch else error(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
        if method == "POST" and path == "/v1/notifications/verify-webhook-signature":
            return self._verify(body)
        return error(404, "NOT_FOUND", "The requested resource was not found.")

    def _token(self, headers, raw):
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = parse_qs(raw.decode() if isinstance(raw, bytes) else "")
        if headers.get("Authorization") != expected:
            return 401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
        with self.lock:
            self.token_calls += 1
            token = f"A21AA{uuid.uuid4().hex}"
            self.tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/payments/payouts",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-TEST",
            "expires_in": 32400,
            "nonce": "n",
        }

    def _validate(self, body):
        if not isinstance(body, dict):
            return error(400, "MALFORMED_REQUEST", "Incoming JSON request does not map to API request")
        header = body.get("sender_batch_header") or {}
        if not header.get("sender_batch_id"):
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                [("sender_batch_header.sender_batch_id", "Required field is missing")],
            )
        items = body.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= 15000:
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                [("items", "Between 1 and 15000 items are required")],
            )
        for index, item in enumerate(items):
            amount = item.get("amount") or {}
            value, currency = amount.get("value"), amount.get("currency")
            decimals = 0 if currency in ZERO_DECIMAL else 2
            pattern = r"^\d{1,10}$" if decimals == 0 else r"^\d{1,10}\.\d{2}$"
            if not isinstance(value, str) or not re.match(pattern, value):
                return error(
                    400,
                    "VALIDATION_ERROR",
                    "Invalid request - see details",
                    [
                        (
                            f"items[{index}].amount.value",
                            "Currency does not support decimals"
                            if decimals == 0
                            else "Must be a string with 2 decimals",
                        )
                    ],
                )
            recipient_type = item.get("recipient_type") or header.get("recipient_type")
            if recipient_type == "EMAIL" and not EMAIL_RE.match(str(item.get("receiver", ""))):
                return error(
                    400,
                    "VALIDATION_ERROR",
                    "Invalid request - see details",
                    [(f"items[{index}].receiver", "Receiver is invalid or does not match with type")],
                )
        return None

    def _create(self, body):
        with self.lock:
            self.create_calls += 1
            refused = self._validate(body)
            if refused:
                return refused
            sender_batch_id = body["sender_batch_header"]["sender_batch_id"]
            existing = self.by_sender_batch_id(sender_batch_id)
            if existing:
                link = {
                    "href": f"{self.url}/v1/payments/payouts/{existing['batch_header']['payout_batch_id']}",
                    "rel": "self",
                    "method": "GET",
                }
                return error(
                    400,
                    "USER_BUSINESS_ERROR",
                    "Batch with given sender_batch_id already exists",
                    [("sender_batch_id", "Batch with given sender_batch_id already exists")],
                    [link],
                )
            batch_id = f"BATCH{len(self.batches) + 1:08d}"
            items = [
                {
                    "payout_item_id": f"ITEM{len(self.batches) + 1:04d}{n:04d}",
                    "transaction_id": f"TX{len(self.batches) + 1:04d}{n:04d}",
                    "transaction_status": self.item_status,
                    "payout_batch_id": batch_id,
                    "payout_item_fee": {"currency": item["amount"]["currency"], "value": "0.00"},
                    "payout_item": item,
                    "time_processed": datetime.now(UTC).isoformat(),
                }
                for n, item in enumerate(body["items"])
            ]
            header = {
                "payout_batch_id": batch_id,
                "batch_status": "PENDING",
                "time_created": datetime.now(UTC).isoformat(),
                "sender_batch_header": body["sender_batch_header"],
            }
            self.batches[batch_id] = {
                "batch_header": {
                    **header,
                    "batch_status": "SUCCESS" if self.item_status != "PENDING" else "PROCESSING",
                },
                "items": items,
                "links": [],
            }
            if self.server_errors > 0:
                self.server_errors -= 1
                return error(500, "INTERNAL_SERVICE_ERROR", "An internal service error has occurred.")
            return 201, {
                "batch_header": header,
                "links": [{"href": f"{self.url}/v1/payments/payouts/{batch_id}", "rel": "self", "method": "GET"}],
            }

    def _verify(self, body):
        required = (
            "transmission_id",
            "transmission_time",
            "cert_url",
            "auth_algo",
            "transmission_sig",
            "webhook_id",
            "webhook_event",
        )
        if not isinstance(body, dict) or any(not body.get(k) for k in required):
            return error(
                400,
                "VALIDATION_ERROR",
                "Invalid request - see details",
                [("webhook_event", "Required field is missing")],
            )
        raw = json.dumps(body["webhook_event"]).encode()
        expected = self._sign(body["transmission_id"], body["transmission_time"], raw)
        ok = body["webhook_id"] == WEBHOOK_ID and hmac.compare_digest(expected, body["transmission_sig"])
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}
