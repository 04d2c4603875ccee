"""config.web_worker: kept-alive connections spread over gunicorn's workers, on a real gunicorn."""

import http.client
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server():
    """gunicorn with the balanced worker, 2 processes × 4 threads, serving tests/web_worker_app.
    A long accept delay: the test machine may be loaded, and the rule, not its 2 ms, is tested."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.web_worker_app:app", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--worker-class", "config.web_worker.ThreadWorker", "--threads", "4",
         "--keep-alive", "60", "--log-level", "warning"],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "WEB_ACCEPT_DELAY_MS": "300", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # Both workers up: their slots are in the table a request reads.
        for _ in range(300):
            if len(ask(port)["table"]) == 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the probing connections above are closed and counted out
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def ask(port, conn=None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def table(port, conn):
    return {int(pid): count for pid, count in ask(port, conn)["table"].items()}


def test_a_new_connection_goes_to_the_worker_holding_fewer_and_every_worker_counts_its_own(server):
    # Given 6 connections opened one after the other and kept alive
    connections = [http.client.HTTPConnection("127.0.0.1", server, timeout=30) for _ in range(6)]
    served_by = [ask(server, conn)["pid"] for conn in connections]

    # Then each worker holds 3, and every worker publishes what it holds
    held = Counter(served_by)
    assert sorted(held.values()) == [3, 3]
    assert table(server, connections[0]) == dict(held)

    # When one worker's 3 connections close
    emptied, other = sorted(held)
    for conn, pid in zip(connections, served_by, strict=True):
        if pid == emptied:
            conn.close()
    kept = [conn for conn, pid in zip(connections, served_by, strict=True) if pid == other]
    for _ in range(100):
        if table(server, kept[0]) == {emptied: 0, other: 3}:
            break
        time.sleep(0.05)
    assert table(server, kept[0]) == {emptied: 0, other: 3}

    # Then the next 3 connections all go to it (plain gthread: whichever worker wakes first)
    fresh = [http.client.HTTPConnection("127.0.0.1", server, timeout=30) for _ in range(3)]
    assert [ask(server, conn)["pid"] for conn in fresh] == [emptied] * 3
    assert table(server, kept[0]) == {emptied: 3, other: 3}
