"""What the HTTP benchmarks share (bench/ingest.py, bench/checkout.py, bench/reads.py):
Django set up for a bench, gunicorn started on a loopback port, and one load loop that keeps
keep-alive connections busy from one thread (a selector over non-blocking sockets).

    from common import django_setup, gunicorn, load
    django_setup()                                   # before importing models
    with gunicorn(port, workers=4) as server: ...    # stopped on the way out
    latencies, elapsed = load(port, jobs, connections=16)

Nothing here is timed except the requests themselves; loopback only, never part of the tests.
"""

import contextlib
import itertools
import json
import os
import secrets
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A step: (method, path, body) or (method, path, body, headers). `path` may be a callable
# taking the previous step's JSON answer (e.g. confirm the reservation just made); `body` is
# sent as is when str/bytes, as JSON otherwise, and not at all when None.
Step = tuple
Job = Sequence[Step]


def django_setup(api_rate_limit: str = "100000000/min") -> None:
    """Settings for a bench process (no HTTPS redirect, no rate limit in the way), then
    django.setup(). Environment variables already set win."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_hex(16))
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
    os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
    os.environ.setdefault("API_RATE_LIMIT", api_rate_limit)
    import django

    django.setup()


def backend_cpu_ms(pid: int) -> float:
    """CPU time (user + system) of the PostgreSQL backend `pid` so far, in ms (/proc, clock
    ticks: read it over many requests)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


WEB_WORKER = "config.web_worker.ThreadWorker"  # what scripts/serve.sh runs: gthread, balanced


def start_gunicorn(
    port: int, workers: int, threads: int = 1, env: dict | None = None, worker_class: str = WEB_WORKER
) -> subprocess.Popen:
    """gunicorn serving config.wsgi on 127.0.0.1:`port` (sync workers, or `worker_class` (make
    serve's by default; "gthread" for gunicorn's own) with keep-alive when `threads` > 1);
    returns once it accepts connections."""
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", **(env or {})}
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    if threads > 1:
        command += ["--worker-class", worker_class, "--threads", str(threads), "--keep-alive", "30"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def gunicorn(
    port: int, workers: int, threads: int = 1, env: dict | None = None, worker_class: str = WEB_WORKER
) -> Iterator[subprocess.Popen]:
    process = start_gunicorn(port, workers, threads, env, worker_class)
    try:
        yield process
    finally:
        stop(process)


def load(
    port: int,
    jobs: Sequence[Job],
    connections: int,
    *,
    headers: dict | None = None,
    seconds: float | None = None,
    expect: Callable[[int], bool] = lambda status: 200 <= status < 300,
) -> tuple[list[float], float]:
    """Run `jobs` (each a sequence of steps, one after the other on one connection) over
    `connections` keep-alive connections. Every job once, or, with `seconds`, cycling through
    them until that much time has passed. `headers` go with every request (a step's own
    headers added). Any status `expect` refuses stops the run with SystemExit. Returns
    (latency of every request in seconds, elapsed seconds).

    One thread drives every connection (non-blocking sockets and a selector, HTTP/1.1 written
    and read by hand): on a 2-core machine the load generator shares the CPU with the server,
    and a thread per connection with http.client cost it more than the requests it measured."""
    if seconds is None:
        pending: Iterator[Job] = iter(jobs)
        deadline = float("inf")
    else:
        pending = itertools.cycle(jobs)
        deadline = time.perf_counter() + seconds
    common = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json", **(headers or {})}
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    errors: list[tuple] = []
    # The bytes of every step that does not depend on the previous answer, built once (the
    # reads bench cycles through the same few hundred requests for tens of thousands of times).
    # Keyed by id() but holding the step itself, so a step built later at a freed id is not
    # taken for it.
    prebuilt: dict[int, tuple[Step, tuple[bytes, tuple]]] = {}

    def encode(step, answer):
        method, path, body = step[:3]
        kept = prebuilt.get(id(step))
        if kept is not None and kept[0] is step:
            return kept[1]
        path = path(json.loads(answer)) if callable(path) else path
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        lines = [f"{method} {path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in {**common, **(step[3] if len(step) > 3 else {})}.items()]
        lines.append(f"Content-Length: {len(body or b'')}")
        encoded = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""), (method, path)
        if not callable(step[1]):
            prebuilt[id(step)] = (step, encoded)
        return encoded

    class Conn:
        def __init__(self):
            self.sock, self.job, self.step, self.answer = None, None, 0, b""

        def connect(self):
            if self.sock is not None:
                selector.unregister(self.sock)
                self.sock.close()
            self.sock = socket.create_connection(("127.0.0.1", port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.setblocking(False)
            selector.register(self.sock, selectors.EVENT_READ, self)

        def send(self):
            """The request on the non-blocking socket: one send() unless the kernel takes part
            of it (a large body), then the rest blocking."""
            sent = self.sock.send(self.request)
            if sent < len(self.request):
                self.sock.setblocking(True)
                self.sock.sendall(self.request[sent:])
                self.sock.setblocking(False)

        def next_request(self):
            """Send the next step (of this job or a new one); False when there is nothing left."""
            if self.job is None or self.step >= len(self.job):
                self.job = next(pending, None) if time.perf_counter() < deadline and not errors else None
                self.step, self.answer = 0, b""
                if self.job is None:
                    return False
            self.request, self.what = encode(self.job[self.step], self.answer)
            self.buffer, self.began = b"", time.perf_counter()
            self.send()
            return True

        def readable(self):
            """Read what arrived; on a whole answer (its head and Content-Length bytes of body),
            record it and send the next request. Returns False when this connection is done."""
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                data = b""
            if not data:  # the server closed a kept-alive connection: send again on a new one
                self.connect()
                self.send()
                return True
            self.buffer += data
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return True
            head = self.buffer[:head_end].lower()
            length, at = 0, head.find(b"\r\ncontent-length:")
            if at >= 0:
                end = head.find(b"\r\n", at + 17)
                length = int(head[at + 17 : end if end >= 0 else len(head)])
            if len(self.buffer) < head_end + 4 + length:
                return True
            latencies.append(time.perf_counter() - self.began)
            status = int(head[9:12])
            self.answer = self.buffer[head_end + 4 : head_end + 4 + length]
            if not expect(status):
                errors.append((*self.what, status, self.answer[:300]))
                return False
            self.step += 1
            if b"\r\nconnection: close" in head:
                self.connect()
            return self.next_request()

    started = time.perf_counter()
    live = 0
    for _ in range(connections):
        conn = Conn()
        conn.connect()
        if conn.next_request():
            live += 1
        else:
            selector.unregister(conn.sock)
            conn.sock.close()
    while live:
        for key, _events in selector.select():
            conn = key.data
            if not conn.readable():
                selector.unregister(conn.sock)
                conn.sock.close()
                live -= 1
    elapsed = time.perf_counter() - started
    selector.close()
    if errors:
        raise SystemExit(f"unexpected answers: {errors[:3]}")
    return latencies, elapsed
