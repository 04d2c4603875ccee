"""A tiny local webhook receiver (http.server in a thread): the demo, the
`webhook_receiver` command and the tests all use it as the partner's endpoint.

It records every request and answers with whatever `respond(received)` returns (default 200).
"""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    status: int = 0

    def header(self, name):
        # HTTP header names are case-insensitive.
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), None)


@dataclass
class LocalReceiver:
    host: str = "127.0.0.1"
    port: int = 0
    respond: object = None  # callable(Received) -> int status, or None for 200
    received: list = field(default_factory=list)

    def start(self):
        """Bind (port 0 = any free port) and serve in a daemon thread; returns self."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
                item.status = receiver.respond(item) if receiver.respond else 200
                receiver.received.append(item)
                payload = b"ok" if 200 <= item.status < 300 else b"receiver says no"
                self.send_response(item.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):  # keep test and demo output quiet
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, path="/hooks"):
        return f"http://{self.host}:{self.port}{path}"
