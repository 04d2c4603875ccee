"""Portal home and catalogue in-process: Python CPU per request.

    scripts/services.sh run .venv/bin/python bench/portal_cpu.py [--requests 500] [--profile]

A small program (the demo tiers and catalogue, one customer with eight grants, signed in)
served by Django's test client with DEBUG off, no HTTP server: prints each page's median wall
and CPU time per request over five rounds, once warm (CPU: this process only), then the CPU
the requests of all five rounds cost the PostgreSQL backend (/proc, in clock ticks: 10 ms
each, so read it over many requests) and Redis (INFO cpu). The statements per page are
pinned by tests/rewards/test_portal_reads.py. --profile adds a cProfile of each page.
Throwaway databases only; never part of the test suite.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
from common import backend_cpu_ms, django_setup  # noqa: E402

django_setup()

from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from engagement.models import Customer, Program  # noqa: E402
from rewards import demo as rewards_demo  # noqa: E402
from rewards import ledger  # noqa: E402
from rewards.portal_auth import PROGRAM_SESSION_KEY, SESSION_KEY  # noqa: E402


def redis_cpu_ms():
    info = cache._cache.get_client().info("cpu")
    return (info["used_cpu_user"] + info["used_cpu_sys"]) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative", help="the profile's order: cumulative, tottime, ...")
    args = parser.parse_args()
    if settings.EMBEDDED:
        raise SystemExit("Run on a throwaway database: scripts/services.sh run .venv/bin/python bench/portal_cpu.py")
    call_command("migrate", verbosity=0)
    program = Program.objects.create(name="Bench portal", slug="bench-portal", currency="MYR")
    rewards_demo.ensure_tiers(program)
    rewards_demo.ensure_catalogue(program)
    customer = Customer.objects.create(program=program, external_id="c1", email="c1@example.com", locale="en")
    for n in range(8):
        ledger.grant_points(customer=customer, points=100 + n, reason="bench", idempotency_key=f"bench-{n}")
    session = SessionStore()
    session[SESSION_KEY] = customer.pk
    session[PROGRAM_SESSION_KEY] = program.pk  # as portal_auth.sign_in writes it
    session.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    rounds = 5
    for path in ("/portal/", "/portal/rewards/"):
        if client.get(path).status_code != 200:
            raise SystemExit(f"{path}: not 200")
        if client.get(path).status_code != 200:  # warm
            raise SystemExit(f"{path}: not 200 once warm")
        walls, cpus = [], []
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_start, redis_start = backend_cpu_ms(backend), redis_cpu_ms()
        for _ in range(rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests // rounds):
                client.get(path)
            walls.append((time.perf_counter() - wall) / (args.requests // rounds) * 1000)
            cpus.append((time.process_time() - cpu) / (args.requests // rounds) * 1000)
        done = rounds * (args.requests // rounds)
        print(
            f"{path:<18}median wall {statistics.median(walls):.2f} ms, "
            f"median CPU {statistics.median(cpus):.2f} ms per request; "
            f"PostgreSQL backend {(backend_cpu_ms(backend) - backend_start) / done:.2f} ms, "
            f"Redis {(redis_cpu_ms() - redis_start) / done:.3f} ms per request"
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests // rounds):
                client.get(path)
            profile.disable()
            pstats.Stats(profile).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()
