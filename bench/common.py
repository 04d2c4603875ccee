"""What the HTTP benchmarks share (bench/ingest.py, bench/checkout.py, bench/reads.py):
Django set up for a bench, gunicorn started on a loopback port, and one load loop that keeps
keep-alive connections busy from a pool of threads.

    from common import django_setup, gunicorn, load
    django_setup()                                   # before importing models
    with gunicorn(port, workers=4) as server: ...    # stopped on the way out
    latencies, elapsed = load(port, jobs, connections=16)

Nothing here is timed except the requests themselves; loopback only, never part of the tests.
"""

import contextlib
import http.client
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int = 1, env: dict | None = None) -> subprocess.Popen:
    """gunicorn serving config.wsgi on 127.0.0.1:`port` (sync workers, or gthread with
    keep-alive when `threads` > 1); returns once it accepts connections."""
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", **(env or {})}
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30"]
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
def gunicorn(port: int, workers: int, threads: int = 1, env: dict | None = None) -> Iterator[subprocess.Popen]:
    process = start_gunicorn(port, workers, threads, env)
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
    `connections` keep-alive connections, one thread each. Every job once, or, with
    `seconds`, cycling through them until that much time has passed. `headers` go with every
    request (a step's own headers added). Any status `expect` refuses stops the run with
    SystemExit. Returns (latency of every request in seconds, elapsed seconds)."""
    lock, latencies, errors = threading.Lock(), [], []
    if seconds is None:
        pending: Iterator[Job] = iter(jobs)
        deadline = float("inf")
    else:
        pending = itertools.cycle(jobs)
        deadline = time.perf_counter() + seconds

    def connect():
        return http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def worker():
        conn, mine = connect(), []
        while not errors and time.perf_counter() < deadline:
            with lock:
                job = next(pending, None)
            if job is None:
                break
            payload = b""
            for step in job:
                method, path, body = step[:3]
                path = path(json.loads(payload)) if callable(path) else path
                if body is not None and not isinstance(body, str | bytes):
                    body = json.dumps(body)
                sent = {"Content-Type": "application/json", **(headers or {}), **(step[3] if len(step) > 3 else {})}
                began = time.perf_counter()
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                payload = response.read()
                mine.append(time.perf_counter() - began)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = connect()
                if not expect(response.status):
                    errors.append((method, path, response.status, payload[:300]))
                    break
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"unexpected answers: {errors[:3]}")
    return latencies, elapsed
