"""RazorpayX Payouts, as its reference documents it (razorpay.com/docs/api/x/payouts:
"Create a payout (composite API with fund account details)", "Fetch all payouts",
"Fetch a payout by id", "Idempotency", "Webhooks"), for the adapter's tests.

What it enforces, as the real API does:
- HTTP Basic with the key id and secret, else 401;
- POST /v1/payouts needs the `X-Payout-Idempotency` header; the same key with the same body
  answers the original payout, with another body a 400; `account_number` (the business's
  RazorpayX account), `amount` (an integer in paise, at least 100), `currency` INR, `mode`
  (UPI for a `vpa` fund account; IMPS, NEFT or RTGS for a `bank_account`), `purpose`, and a
  `fund_account` of `account_type` `vpa` {address} or `bank_account` {name, ifsc,
  account_number} with a `contact` {name}; `reference_id` at most 40 characters;
- errors: `{"error": {"code", "description", "source", "step", "reason", "metadata", "field"}}`;
- GET /v1/payouts?account_number=&reference_id=&from=&to=&count=&skip= answers
  `{"entity": "collection", "count", "items": [...]}` (count at most 100);
- webhooks: `X-Razorpay-Signature` = hex HMAC-SHA256 of the raw body with the webhook secret.
"""

import base64
import json
import re
import time

from payouts.providers.base import hmac_sha256_hex
from tests.payouts.fakes import FakeServer

KEY_ID = "rzp_test_key"
KEY_SECRET = "test-key-secret"
WEBHOOK_SECRET = "test-rzp-webhook-secret"
ACCOUNT_NUMBER = "7878780080316316"
IFSC_RE = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
VPA_RE = re.compile(r"^[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9]{1,63}$")
PURPOSES = {"refund", "cashback", "payout", "salary", "utility bill", "vendor bill"}
MODES = {"vpa": {"UPI"}, "bank_account": {"IMPS", "NEFT", "RTGS"}}


def error(code, description, field=None, reason="input_validation_failed"):
    return code, {
        "error": {
            "code": "BAD_REQUEST_ERROR" if code == 400 else "SERVER_ERROR" if code >= 500 else "UNAUTHORIZED",
            "description": description,
            "source": "business" if code == 400 else "internal",
            "step": "payout_initiation",
            "reason": reason,
            "metadata": {},
            "field": field,
        }
    }


class FakeRazorpayX(FakeServer):
    def __init__(self):
        super().__init__()
        self.payouts = []
        self.by_key = {}  # idempotency key -> (body, payout)
        self.create_calls = 0
        self.list_calls = 0
        self.status = "processed"
        self.server_errors = 0  # the next N creates are placed, then answered 500

    @property
    def payouts_created(self):
        return len(self.payouts)

    def by_reference(self, reference_id):
        return next((p for p in self.payouts if p["reference_id"] == reference_id), None)

    def webhook(self, reference_id, event, secret=WEBHOOK_SECRET):
        payout = self.by_reference(reference_id)
        body = json.dumps(
            {
                "entity": "event",
                "account_id": "acc_TEST",
                "event": event,
                "contains": ["payout"],
                "payload": {"payout": {"entity": payout}},
                "created_at": int(time.time()),
            }
        ).encode()
        return body, {
            "X-Razorpay-Signature": hmac_sha256_hex(secret, body),
            "X-Razorpay-Event-Id": f"evt_{time.time_ns()}",
        }

    def handle(self, method, path, query, headers, body):
        expected = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 401, {"error": {"code": "BAD_REQUEST_ERROR", "description": "The api key provided is invalid"}}
        if method == "POST" and path == "/v1/payouts":
            return self._create(headers.get("X-Payout-Idempotency"), body)
        if method == "GET" and path == "/v1/payouts":
            return self._list(query)
        if method == "GET" and path.startswith("/v1/payouts/"):
            payout = next((p for p in self.payouts if p["id"] == path.rsplit("/", 1)[-1]), None)
            return (200, payout) if payout else error(400, "The id provided does not exist", "id")
        return error(400, "The requested URL was not found on the server.", reason="url_not_found")

    def _validate(self, body):
        if not isinstance(body, dict):
            return error(400, "The request body must be JSON")
        if body.get("account_number") != ACCOUNT_NUMBER:
            return error(400, "The account number is invalid", "account_number")
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 100:
            return error(400, "The amount must be an integer of at least 100", "amount")
        if body.get("currency") != "INR":
            return error(400, "Currency is not supported", "currency")
        if body.get("purpose") not in PURPOSES:
            return error(400, "The purpose is invalid", "purpose")
        if len(str(body.get("reference_id", ""))) > 40:
            return error(400, "The reference id may not be greater than 40 characters", "reference_id")
        account = body.get("fund_account") or {}
        kind = account.get("account_type")
        if kind not in MODES:
            return error(400, "The account type is invalid", "fund_account.account_type")
        if body.get("mode") not in MODES[kind]:
            return error(400, f"The mode {body.get('mode')} is not allowed for {kind}", "mode")
        if kind == "vpa" and not VPA_RE.match(str((account.get("vpa") or {}).get("address", ""))):
            return error(400, "Invalid VPA. Please enter a valid Virtual Payment Address", "fund_account.vpa.address")
        if kind == "bank_account":
            bank = account.get("bank_account") or {}
            if not IFSC_RE.match(str(bank.get("ifsc", ""))):
                return error(400, "The ifsc must be 11 characters.", "fund_account.bank_account.ifsc")
            if not bank.get("name") or not re.match(r"^[0-9]{5,35}$", str(bank.get("account_number", ""))):
                return error(400, "The bank account details are invalid", "fund_account.bank_account")
        if not (account.get("contact") or {}).get("name"):
            return error(400, "The contact name is required", "fund_account.contact.name")
        return None

    def _create(self, key, body):
        with self.lock:
            self.create_calls += 1
            if not key:
                return error(400, "X-Payout-Idempotency header is mandatory", "X-Payout-Idempotency")
            if key in self.by_key:
                first_body, payout = self.by_key[key]
                if first_body != body:
                    return error(
                        400, "Different request body sent for the same Idempotency Header", reason="idempotency_error"
                    )
                return 200, payout
            refused = self._validate(body)
            if refused:
                return refused
            number = len(self.payouts) + 1
            payout = {
                "id": f"pout_{number:014d}",
                "entity": "payout",
                "fund_account_id": f"fa_{number:014d}",
                # The composite API echoes the fund account it created or matched ("Payout
                # Composite Entity"): the payee's contact and bank account or VPA.
                "fund_account": self._fund_account_entity(number, body["fund_account"]),
                "amount": body["amount"],
                "currency": "INR",
                "fees": 590,
                "tax": 90,
                "status": self.status,
                "utr": f"UTR{number:09d}" if self.status == "processed" else None,
                "mode": body["mode"],
                "purpose": body["purpose"],
                "reference_id": body.get("reference_id"),
                "narration": body.get("narration"),
                "batch_id": None,
                "failure_reason": None,
                "created_at": int(time.time()),
                "status_details": None,
            }
            self.payouts.append(payout)
            self.by_key[key] = (body, payout)
            if self.server_errors > 0:
                self.server_errors -= 1
                return error(500, "We are facing some trouble completing your request at the moment.")
            return 200, payout

    def _fund_account_entity(self, number, fund_account):
        kind = fund_account["account_type"]
        return {
            "id": f"fa_{number:014d}",
            "entity": "fund_account",
            "contact_id": f"cont_{number:014d}",
            "contact": {"id": f"cont_{number:014d}", "entity": "contact", **fund_account.get("contact", {})},
            "account_type": kind,
            kind: {**fund_account[kind], **({"bank_name": "HDFC Bank"} if kind == "bank_account" else {})},
            "active": True,
        }

    def _list(self, query):
        with self.lock:
            self.list_calls += 1
            if query.get("account_number") != ACCOUNT_NUMBER:
                return error(400, "The account number field is required.", "account_number")
            count, skip = int(query.get("count", 10)), int(query.get("skip", 0))
            if not 1 <= count <= 100:
                return error(400, "The count may not be greater than 100.", "count")
            items = sorted(self.payouts, key=lambda p: p["created_at"], reverse=True)
            if "reference_id" in query:
                items = [p for p in items if p["reference_id"] == query["reference_id"]]
            if "from" in query:
                items = [p for p in items if p["created_at"] >= int(query["from"])]
            if "to" in query:
                items = [p for p in items if p["created_at"] <= int(query["to"])]
            block = items[skip : skip + count]
            return 200, {"entity": "collection", "count": len(block), "items": block}
