"""A small Tremendous-style payout provider for tests: a real HTTP server on 127.0.0.1
with its own order book, failure switches and counters (never a mock)."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from payouts.providers.base import hmac_sha256_hex

API_KEY = "test-api-key"
WEBHOOK_SECRET = "test-webhook-secret"


class FakeProvider:
    def __init__(self):
        self.lock = threading.Lock()
        self.orders = {}  # external_id -> order object
        self.create_calls = 0
        self.lookup_calls = 0
        self.orders_created = 0
        # Failure switches.
        self.transient_failures = 0  # the next N creates answer 429 and place nothing
        self.reject = False  # creates answer 422
        self.answer_delay = 0.0  # place the order, then wait this long before answering
        self.error_after_create = False  # place the order, then answer 500
        self.delivery_status = "SUCCEEDED"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def webhook(self, external_id, delivery_status, event_id=None, secret=WEBHOOK_SECRET):
        """(body, headers) of a signed ORDERS/REWARDS webhook about one of our orders."""
        order = {**self.orders[external_id]}
        order["rewards"] = [{"delivery": {"status": delivery_status}}]
        body = json.dumps(
            {
                "event": f"REWARDS.DELIVERY.{delivery_status}",
                "uuid": event_id or str(uuid.uuid4()),
                "payload": {"resource": {"id": order["id"], "type": "orders"}, "order": order},
            }
        ).encode()
        return body, {"Tremendous-Webhook-Signature": "sha256=" + hmac_sha256_hex(secret, body)}

    def _create(self, body):
        with self.lock:
            self.create_calls += 1
            if self.transient_failures > 0:
                self.transient_failures -= 1
                return 429, {"errors": {"message": "Too many requests"}}, 0, False
            if self.reject:
                return 422, {"errors": {"message": "Recipient not accepted"}}, 0, False
            external_id = body["external_id"]
            if external_id in self.orders:
                return 200, {"order": self.orders[external_id]}, 0, False
            self.orders_created += 1
            order = {
                "id": f"ORD-{self.orders_created:04d}",
                "external_id": external_id,
                "status": "EXECUTED",
                "amount": body["reward"]["value"],
                "rewards": [{"delivery": {"status": self.delivery_status}}],
            }
            self.orders[external_id] = order
            return 201, {"order": order}, self.answer_delay, self.error_after_create

    def _lookup(self, external_id):
        with self.lock:
            self.lookup_calls += 1
            order = self.orders.get(external_id)
            return 200, {"orders": [order] if order else []}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, data):
                payload = json.dumps(data).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _authorised(self):
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, {"errors": {"message": "Unauthorized"}})
                    return False
                return True

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if not self._authorised():
                    return
                code, data, delay, error = fake._create(body)
                if delay:
                    time.sleep(delay)
                if error:
                    self._send(500, {"errors": {"message": "Internal error"}})
                    return
                self._send(code, data)

            def do_GET(self):
                if not self._authorised():
                    return
                url = urlparse(self.path)
                external_id = parse_qs(url.query).get("external_id", [""])[0]
                self._send(*fake._lookup(external_id))

        return Handler
