"""Reads under load: pages and read endpoints against gunicorn on a large program.

Run on throwaway servers:
    scripts/services.sh run .venv/bin/python bench/reads.py [--customers 1000000] [--events 2000000]

Loads a program of --customers customers and --events events with COPY (bench/scoring.py's
loader), scores it once, gives --sample customers points, a portal session and a survey
invitation, then starts gunicorn (--workers processes × --threads threads, keep-alive, make
serve's worker class) and, for each target, keeps --connections keep-alive connections busy
for --seconds, cycling through the sample customers:

    baseline     GET /portal/brand/<slug>.css  (a trivial page: one program lookup, no session)
    portal home  GET /portal/                  (signed-in customer)
    catalogue    GET /portal/rewards/
    balance      GET /api/v1/customers/{id}/balance      (partner key)
    engagement   GET /api/v1/customers/{id}/engagement   (partner key)
    survey page  GET /s/<token>/                        (an opened invitation)

With --targets only those (by name prefix: --targets baseline,portal,catalogue).
Prints requests/s, p50, p99, the load generator's own CPU per request and how the connections
were spread over gunicorn's processes halfway through, per target (goal: p99 < 50 ms and
>= 500 requests/s on each).
Every response must be 200: any other status stops the run. Loopback only, bounded by
--seconds; never part of the test suite.
"""

import argparse
import http.client
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WEB_WORKER, django_setup, free_port, gunicorn, load  # noqa: E402

django_setup()

import scoring as scoring_bench  # noqa: E402  (bench/scoring.py: loads with COPY)
from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from engagement import scoring  # noqa: E402
from engagement.models import Customer, PartnerKey, Program  # noqa: E402
from rewards import demo as rewards_demo  # noqa: E402
from rewards import ledger  # noqa: E402
from rewards.portal_auth import PROGRAM_SESSION_KEY, SESSION_KEY  # noqa: E402
from surveys.definitions import create_survey  # noqa: E402
from surveys.models import Invitation  # noqa: E402
from surveys.sending import send_survey  # noqa: E402
from surveys.tokens import invitation_path  # noqa: E402


def prepare(customers, events, sample):
    """The program, its partner key, and per sample customer (external id, session key, survey path)."""
    started = time.perf_counter()
    program = Program.objects.create(
        name=f"Bench reads {customers}", slug=f"bench-reads-{secrets.token_hex(3)}", currency="MYR"
    )
    scoring_bench.load(program, customers, events)
    print(f"loaded {customers:,} customers and {events:,} events with COPY in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    scoring.rescore_program(program)
    print(f"scored in {time.perf_counter() - started:.0f} s")
    rewards_demo.ensure_tiers(program)
    rewards_demo.ensure_catalogue(program)
    survey = create_survey(program=program, name="Bench NPS")
    chosen = list(Customer.objects.filter(program=program).order_by("?")[:sample])
    rows = []
    for n, customer in enumerate(chosen):
        Customer.objects.filter(pk=customer.pk).update(email=f"bench{n}@example.com", locale="en")
        customer.refresh_from_db()
        ledger.grant_points(customer=customer, points=500 + n, reason="bench", idempotency_key=f"bench-{n}")
        session = SessionStore()
        session[SESSION_KEY] = customer.pk
        session[PROGRAM_SESSION_KEY] = customer.program_id  # as portal_auth.sign_in writes
        session.create()
        send_survey(survey=survey, customer=customer, source="bench", idempotency_key=f"bench-{n}")
        invitation = Invitation.objects.filter(survey=survey, customer=customer).first()
        if invitation is None:
            raise SystemExit(f"no invitation for {customer.external_id}: the survey send was skipped")
        rows.append((customer.external_id, session.session_key, invitation_path(invitation)))
    _, key = PartnerKey.issue(program, f"bench-{secrets.token_hex(3)}")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return program, key, rows


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--sample", type=int, default=200, help="customers the load cycles through")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process")
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: any free one)")
    parser.add_argument(
        "--servers",
        default="",
        help="gunicorn shapes to run one after the other on the same data, processes x threads, each with"
        " an optional worker class after a colon (default: make serve's, config.web_worker.ThreadWorker),"
        " e.g. 2x4,2x4:gthread,3x4 (default: --workers x --threads)",
    )
    parser.add_argument(
        "--targets",
        default="",
        help="comma-separated name prefixes of the targets to run, e.g. baseline,portal,catalogue (default: all)",
    )
    args = parser.parse_args()
    if settings.EMBEDDED:
        raise SystemExit("Run on a throwaway database: scripts/services.sh run .venv/bin/python bench/reads.py")
    call_command("migrate", verbosity=0)
    program, key, rows = prepare(args.customers, args.events, args.sample)
    cookie = settings.SESSION_COOKIE_NAME
    api = {"Authorization": f"Bearer {key}"}
    targets = {
        "baseline (brand css)": [(f"/portal/brand/{program.slug}.css", {}) for _ in rows],
        "portal home": [("/portal/", {"Cookie": f"{cookie}={session}"}) for _, session, _ in rows],
        "catalogue": [("/portal/rewards/", {"Cookie": f"{cookie}={session}"}) for _, session, _ in rows],
        "balance API": [(f"/api/v1/customers/{ext}/balance", api) for ext, _, _ in rows],
        "engagement API": [(f"/api/v1/customers/{ext}/engagement", api) for ext, _, _ in rows],
        "survey page": [(path, {}) for _, _, path in rows],
    }
    if args.targets:
        wanted = [prefix.strip() for prefix in args.targets.split(",") if prefix.strip()]
        targets = {name: requests for name, requests in targets.items() if any(name.startswith(w) for w in wanted)}
        if not targets:
            raise SystemExit(f"--targets {args.targets!r} selects none of the targets")
    shapes = []
    for shape in filter(None, (shape.strip() for shape in args.servers.split(","))):
        size, _, worker_class = shape.partition(":")
        workers, threads = (int(n) for n in size.lower().split("x"))
        shapes.append((workers, threads, worker_class or WEB_WORKER))
    for workers, threads, worker_class in shapes or [(args.workers, args.threads, WEB_WORKER)]:
        serve(args, targets, workers, threads, worker_class)


def spread(port):
    """How many of the established connections to `port` each gunicorn process holds, most
    first (ss(8)), e.g. [8, 8]; [] when ss is missing."""
    try:
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True
        ).stdout
    except FileNotFoundError:
        return []
    return sorted(Counter(re.findall(r"pid=(\d+)", out)).values(), reverse=True)


def serve(args, targets, workers, threads, worker_class):
    """Start gunicorn with `workers` processes of `threads` threads of `worker_class`, warm it
    up, then load each target for args.seconds and print its line, with how the connections
    were spread over the processes halfway through."""
    port = args.port or free_port()
    with gunicorn(port, workers, threads, env={"CONN_MAX_AGE": "600"}, worker_class=worker_class):
        # One pass over every request first: the first survey view writes "opened", and the
        # workers' connections and caches warm up; only the timed runs below are reported.
        for requests in targets.values():
            for path, headers in requests:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    raise SystemExit(f"{path}: {response.status}")
        print(
            f"{args.customers:,} customers, {args.events:,} events; gunicorn {workers}×{threads} {worker_class}; "
            f"{args.connections} connections, {args.seconds:.0f} s per target; {timezone.now():%Y-%m-%d %H:%M} UTC"
        )
        # client CPU: this process's CPU (the load generator; gunicorn is a child process, not
        # counted) per request: what the load generator takes from the 2 cores it shares.
        print(
            f"{'target':<22}{'requests/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'client CPU ms':>15}"
            "  connections per process"
        )
        for name, requests in targets.items():
            jobs = [[("GET", path, None, headers)] for path, headers in requests]
            seen: list[list[int]] = []
            probe = threading.Timer(args.seconds / 2, lambda seen=seen: seen.append(spread(port)))
            probe.start()
            cpu = time.process_time()
            latencies, elapsed = load(
                port, jobs, args.connections, seconds=args.seconds, expect=lambda status: status == 200
            )
            cpu = time.process_time() - cpu
            probe.join()
            print(
                f"{name:<22}{len(latencies) / elapsed:>12,.0f}{statistics.median(latencies) * 1000:>9.1f}"
                f"{percentile(latencies, 0.99) * 1000:>9.1f}{len(latencies):>10,}{cpu / len(latencies) * 1000:>15.3f}"
                f"  {'/'.join(map(str, seen[0])) if seen and seen[0] else '-'}"
            )


if __name__ == "__main__":
    main()
