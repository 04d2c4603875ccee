"""Local stand-ins for payout providers: real HTTP servers on 127.0.0.1, each written from
its provider's published API reference (request shapes, status values, error bodies), that
refuse what the real API refuses. Never mocks: the adapters speak HTTP to them."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeServer:
    """A threaded HTTP server whose subclass answers `handle(method, path, query, headers, body)`
    with (status, JSON-able body) or (status, body, delay_seconds, fail_after)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []  # (method, path, parsed body) of every request, for assertions
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

    def handle(self, method, path, query, headers, body):  # pragma: no cover - subclasses answer
        raise NotImplementedError

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

            def _answer(self, method):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                url = urlparse(self.path)
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw  # not JSON (a form post): the subclass reads the bytes
                with fake.lock:
                    fake.requests.append((method, url.path, body))
                answer = fake.handle(method, url.path, query, self.headers, body)
                code, data, *rest = answer
                delay, fail_after = (rest + [0.0, None])[:2]
                if delay:
                    time.sleep(delay)
                if fail_after:
                    self._send(fail_after, {"errors": {"message": "Internal error"}})
                    return
                self._send(code, data)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        return Handler
