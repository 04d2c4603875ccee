"""Scale: one machine with --customers customers and --events events (default 1,000,000 and
10,000,000), each figure against its raw baseline from the same run.

Run on throwaway servers:
    scripts/services.sh run .venv/bin/python bench/scale.py [--customers N] [--events N] [--slice N]

1. Setup: the customers with COPY; then the baseline: API ingest (gunicorn) of --probe
   events while the events table is empty.
2. Setup: all but the last --slice events with COPY (bench/scoring.py's loader, events
   spread over 400 days), then one full scoring pass.
3. The rest of the slice through the API and the real processing (Celery workers on the
   ingest, campaigns and scoring queues), timed from the first POST until no event is left
   unprocessed, with the backlog sampled every 2 s; its first --probe events give the ingest
   rate at full size (goal: within ±20 % of the empty-table rate).
4. Metrics endpoint for every metric over a year (goal < 1 s) and nightly and steady re-score
   against the plain GROUP BY aggregate (goal ≤ 2×): bench/scoring.py's paired rounds.
5. `fit_models` against the same plain aggregate.
6. The events' size on disk (table, partitions and indexes) per million events.
Never part of the test suite.
"""

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("API_RATE_LIMIT", "100000000/min")

import ingest as ingest_bench  # noqa: E402  (bench/ingest.py: Django set up, gunicorn, POSTs)
import scoring as scoring_bench  # noqa: E402  (bench/scoring.py: COPY loader, paired rounds)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from engagement import scoring  # noqa: E402
from engagement.models import Event, PartnerKey, Program  # noqa: E402


def events_for(prefix, count, customers, first=0):
    """`count` API events for the loaded customers ("b-<n>", as bench/scoring.py names them)."""
    out = []
    for event in ingest_bench.make_events(prefix, count, customers):
        number = int(event["customer"][1:])
        event["customer"] = f"b-{number}"
        event["event_id"] = f"{prefix}-{first + len(out)}"
        out.append(event)
    return out


def bodies(events, batch):
    return [json.dumps({"events": events[i : i + batch]}) for i in range(0, len(events), batch)]


def ingest_rate(port, key, events, batch, connections):
    seconds = ingest_bench.post_batches(port, key, bodies(events, batch), connections)
    return len(events) / seconds


def start_workers(concurrency):
    queues = "ingest,campaigns,scoring,default"
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
               "--concurrency", str(concurrency), "--loglevel", "WARNING"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ})


def unprocessed(program):
    return Event.objects.filter(program=program, processed_at__isnull=True).count()


def events_bytes():
    with connection.cursor() as cursor:
        cursor.execute(
            # A partitioned parent has no storage of its own: its partitions' sizes are summed.
            """SELECT GREATEST(pg_total_relation_size(%(t)s::regclass),
                      (SELECT COALESCE(SUM(pg_total_relation_size(relid)), 0) FROM pg_partition_tree(%(t)s::regclass)))""",
            {"t": Event._meta.db_table},
        )
        return int(cursor.fetchone()[0])


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--slice", type=int, default=500_000, help="last events, through the API and processing")
    parser.add_argument("--probe", type=int, default=100_000, help="events timed for the ingest rate")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--rounds", type=int, default=3, help="paired re-score/endpoint rounds")
    args = parser.parse_args()
    if settings.EMBEDDED:
        raise SystemExit("Run on a throwaway database: scripts/services.sh run .venv/bin/python bench/scale.py")
    if args.batch + 2 * args.probe > args.slice:
        raise SystemExit("--slice must hold a warm-up batch and two --probe runs")
    call_command("migrate", verbosity=0)
    program = Program.objects.create(name="Bench scale", slug=f"bench-scale-{secrets.token_hex(3)}", currency="MYR")
    _, key = PartnerKey.issue(program, "bench")
    port = ingest_bench.free_port()
    server = ingest_bench.start_gunicorn(port, args.workers)
    workers = None
    try:
        # 1. Customers with COPY, then the empty-table baseline: the slice's first --probe
        # events through the API while the events table is empty (after one warm-up batch).
        took = timed(lambda: scoring_bench.load_customers(program, args.customers))
        print(f"setup: {args.customers:,} customers with COPY in {took:.0f} s")
        slice_events = events_for("slice", args.slice, args.customers)
        warm, probe = slice_events[: args.batch], slice_events[args.batch : args.batch + args.probe]
        ingest_rate(port, key, warm, args.batch, 1)
        empty_rate = ingest_rate(port, key, probe, args.batch, args.connections)
        print(f"API ingest, empty events table: {empty_rate:,.0f} events/s ({args.probe:,} events)")

        # 2. The bulk of the events with COPY, then one full scoring pass.
        loaded = args.events - args.slice
        took = timed(lambda: scoring_bench.load_events(program, args.customers, loaded))
        print(f"setup: {loaded:,} events with COPY in {took:.0f} s")
        took = timed(lambda: scoring.rescore_program(program))
        print(f"first full scoring pass: {took:.0f} s")

        # 3. The rest of the slice through the API with workers processing as it arrives (the
        # warm-up and probe events of step 1 are waiting for them too: the whole slice is timed).
        workers = start_workers(args.concurrency)
        time.sleep(5)  # the workers connect before the clock starts
        rest = slice_events[args.batch + args.probe :]
        started = time.perf_counter()
        backlog, sampling = [], threading.Event()

        def sample():
            # Its own connection (Django's are per thread), closed when sampling ends.
            while not sampling.wait(2):
                backlog.append((time.perf_counter() - started, unprocessed(program)))
            connection.close()

        sampler = threading.Thread(target=sample)
        sampler.start()
        full_rate = ingest_rate(port, key, rest[: args.probe], args.batch, args.connections)
        if rest[args.probe :]:
            ingest_bench.post_batches(port, key, bodies(rest[args.probe :], args.batch), args.connections)
        posted = time.perf_counter() - started
        while unprocessed(program) > 0:
            time.sleep(0.5)
        processed = time.perf_counter() - started
        sampling.set()
        sampler.join()
        change = (full_rate / empty_rate - 1) * 100
        print(
            f"API ingest at {args.events:,} events: {full_rate:,.0f} events/s ({change:+.0f} % against the empty "
            f"table; goal within ±20 %); whole slice posted in {posted:.0f} s ({args.slice / posted:,.0f} events/s)"
        )
        print(
            f"processing: all {args.slice:,} processed {processed:.0f} s after the first POST "
            f"({args.slice / processed:,.0f} events/s); backlog when posting ended: "
            f"{next((n for t, n in backlog if t >= posted), 0):,}"
        )
        print("backlog over time (s: events waiting): " + ", ".join(f"{t:.0f}: {n:,}" for t, n in backlog[::5]))
        workers.terminate()
        workers.wait()
        workers = None

        # 4. Re-scores and the metrics endpoint against the plain aggregate, paired.
        scoring_bench.bench_paired(program, args.rounds)

        # 5. Purchase-model fit against the same plain aggregate.
        plain = timed(lambda: scoring_bench.plain_aggregate(program))
        fit = timed(lambda: call_command("fit_models", program=program.slug, verbosity=0))
        print(f"fit_models: {fit:.1f} s; plain aggregate {plain:.1f} s ({fit / plain:.1f}x)")

        # 6. Size on disk.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        total = Event.objects.count()
        size = events_bytes()
        print(
            f"events on disk (table, partitions, indexes): {size / 2**30:.2f} GiB for {total:,} events: "
            f"{size / total * 1e6 / 2**20:,.0f} MiB per million events"
        )
    finally:
        if workers:
            workers.terminate()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
