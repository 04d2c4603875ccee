"""CPU time per partner-API request, in-process (no server, no load generator): a number that
survives a noisy machine, unlike req/s. Runs the checkout bench's seed (bench/checkout.py) and
then, per mix, --requests requests through Django's full WSGI stack (test Client: every
middleware, authentication, serializers, the database round trips) and prints the process CPU
milliseconds per request (time.process_time), the queries per request and the CPU the
PostgreSQL backend spent on them (/proc, clock ticks of 10 ms: read it over many requests).
--profile MIX writes a cProfile of that mix to --profile-out (default apicpu-MIX.prof in the
current directory) and prints the top 25.

Run:   scripts/services.sh run .venv/bin/python bench/apicpu.py [--customers 100000]
"""

import argparse
import cProfile
import pstats
import random
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkout  # noqa: E402  (sets Django up)
from common import backend_cpu_ms  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def mixes(rng, funded, n, tag):
    return {
        "baseline": [[("get", f"/api/v1/customers/{rng.choice(funded)}", None)] for _ in range(n)],
        "balance": [[("get", f"/api/v1/customers/{rng.choice(funded)}/balance", None)] for _ in range(n)],
        "evaluate": [[("post", "/api/v1/checkout/evaluate", checkout.cart(rng, rng.choice(funded)))]
                     for _ in range(n)],
        "reserve+confirm": [
            [("post", "/api/v1/checkout/reservations",
              {**checkout.cart(rng, rng.choice(funded)), "order_id": f"cpu{tag}-{secrets.token_hex(6)}",
               "points": 100 * rng.randint(1, 5), "codes": []}),
             ("post", lambda answer: f"/api/v1/checkout/reservations/{answer['id']}/confirm", None)]
            for _ in range(n // 2)
        ],
    }  # fmt: skip


def run(client, jobs):
    count = 0
    for steps in jobs:
        answer = None
        for method, path, body in steps:
            url = path(answer) if callable(path) else path
            kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
            response = getattr(client, method)(url, **kwargs)
            assert response.status_code < 300, (url, response.status_code, response.content[:300])
            answer = response.json() if response.content else None
            count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500, help="per mix")
    parser.add_argument("--mixes", default="baseline,balance,evaluate,reserve+confirm", help="which, comma-separated")
    parser.add_argument("--profile", choices=["baseline", "balance", "evaluate", "reserve+confirm"])
    parser.add_argument("--profile-out", metavar="FILE", help="where --profile writes its stats")
    parser.add_argument("--sort", default="cumulative", help="the profile's order: cumulative, tottime, ...")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    _program, key, funded = checkout.seed(args.customers)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="localhost", secure=True)
    rng = random.Random(20261205)
    run(client, [step for jobs in mixes(rng, funded, 20, "w").values() for step in jobs])  # warm up
    for name, jobs in mixes(rng, funded, args.requests, secrets.token_hex(2)).items():
        if name not in args.mixes.split(","):
            continue
        profiler = cProfile.Profile() if name == args.profile else None
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_start = backend_cpu_ms(backend)
        with CaptureQueriesContext(connection) as queries:
            start = time.process_time()
            if profiler:
                profiler.enable()
            count = run(client, jobs)
            if profiler:
                profiler.disable()
            cpu = time.process_time() - start
        backend_ms = backend_cpu_ms(backend) - backend_start
        print(f"{name:16} {1000 * cpu / count:6.2f} ms CPU/request  {len(queries) / count:5.1f} queries/request  "
              f"PostgreSQL backend {backend_ms / count:.2f} ms/request  ({count} requests)")  # fmt: skip
        if profiler:
            profiler.dump_stats(args.profile_out or f"apicpu-{name}.prof")
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(25)


if __name__ == "__main__":
    main()
