"""A local HTTP server standing in for a provider (Twilio-style API, a Web Push service)."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: object  # case-insensitive (http.client.HTTPMessage)
    body: bytes


@dataclass
class HttpPeer:
    """Records every request; answers with the queued (status, body) replies, then `default`."""

    url: str = ""
    requests: list = field(default_factory=list)
    replies: list = field(default_factory=list)
    default: tuple = (201, b'{"sid": "SM0001", "status": "queued"}')

    def reply(self, status, body=b""):
        self.replies.append((status, body))


@pytest.fixture
def http_peer():
    peer = HttpPeer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            peer.requests.append(Received("POST", self.path, self.headers, self.rfile.read(length)))
            status, body = peer.replies.pop(0) if peer.replies else peer.default
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield peer
    server.shutdown()
    server.server_close()


@pytest.fixture
def status_log():
    """Registers a status handler for the test; yields the list of (message_id, status) calls."""
    from engagement.channels import hooks

    calls = []

    def handler(message_id, status):
        calls.append((message_id, status))

    hooks.register_status_handler(handler)
    yield calls
    hooks._status_handlers.remove(handler)
