"""Ingest benchmark: events through the real API (gunicorn + PostgreSQL) vs a raw COPY.

Run on throwaway servers:   scripts/services.sh run .venv/bin/python bench/ingest.py [--events 200000]
or against DATABASE_URL/REDIS_URL you provide. Each round posts N events in batches of
--batch to POST /api/v1/events over --connections keep-alive connections, then COPYs the
same rows into a scratch table shaped like the events table (same indexes and unique key).
Prints events/s for both and the ratio. No Celery worker runs, so only ingestion is timed
(processing tasks queue up in Redis and are purged at the end).
"""

import argparse
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import django_setup, free_port, gunicorn, load  # noqa: E402

# Ingestion alone, with no worker processing: the backlog would grow past EVENTS_MAX_BACKLOG
# and POST /events answer 429 (engagement.backlog). bench/scale.py, which imports this, posts
# at full speed too; bench/pipeline.py has its own --max-backlog.
os.environ.setdefault("EVENTS_MAX_BACKLOG", "0")
django_setup(api_rate_limit="1000000/min")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from engagement.models import Event, PartnerKey, Program  # noqa: E402

TYPES = ["page_view", "purchase", "email_opened", "session", "social_like"]


def make_events(round_no, count, customers):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(count):
        type_ = TYPES[n % len(TYPES)]
        event = {
            "event_id": f"r{round_no}-{n}",
            "type": type_,
            "customer": f"c{n % customers}",
            "occurred_at": (start + timedelta(seconds=n * 37)).isoformat(),
        }
        if type_ == "page_view":
            event["properties"] = {"url": "/shop"}
        elif type_ == "purchase":
            event.update(value="19.90", properties={"order_id": f"o{round_no}-{n}"})
        elif type_ == "email_opened":
            event["properties"] = {"message_id": "m1"}
        elif type_ == "session":
            event["properties"] = {"duration_seconds": 120, "page_views": 3, "exit_page": "/"}
        else:
            event["properties"] = {"network": "instagram"}
        yield event


def post_batches(port, key, bodies, connections):
    """POST every body to /events; returns elapsed seconds. Stops on any answer but 202."""
    jobs = [[("POST", "/api/v1/events", body)] for body in bodies]
    headers = {"Authorization": f"Bearer {key}"}
    _latencies, elapsed = load(port, jobs, connections, headers=headers, expect=lambda status: status == 202)
    return elapsed


def copy_baseline(program, round_no, events, customer_ids):
    """COPY the same rows into bench_events_copy (a LIKE copy with all indexes)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_events_copy")
        # A plain (unpartitioned) table with the events' indexes, plus the unique key that
        # deduplication needs (on the events table itself before it was partitioned; in
        # EventKey since): the cost of storing the rows once, without any API around it.
        cursor.execute(f"CREATE TABLE bench_events_copy (LIKE {Event._meta.db_table} INCLUDING ALL)")
        cursor.execute("ALTER TABLE bench_events_copy ADD UNIQUE (program_id, event_id)")
    connection.commit() if not connection.get_autocommit() else None
    now = datetime.now(UTC)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY bench_events_copy (program_id, customer_id, event_id, type, occurred_at, received_at, value, "
            "currency, properties) FROM STDIN"
        ) as copy:
            for event in events:
                copy.write_row(
                    (
                        program.pk,
                        customer_ids[event["customer"]],
                        event["event_id"],
                        event["type"],
                        event["occurred_at"],
                        now,
                        event.get("value"),
                        "MYR" if "value" in event else "",
                        json.dumps(event.get("properties", {})),
                    )
                )
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: any free one)")
    args = parser.parse_args()

    if settings.EMBEDDED:  # not on the demo's database
        raise SystemExit("Run on a throwaway database: scripts/services.sh run .venv/bin/python bench/ingest.py")
    call_command("migrate", verbosity=0)
    program, _ = Program.objects.get_or_create(slug="bench", defaults={"name": "Bench", "currency": "MYR"})
    _, key = PartnerKey.issue(program, f"bench-{secrets.token_hex(3)}")
    port = args.port or free_port()
    api_rates, copy_rates = [], []
    try:
        with gunicorn(port, args.workers):
            for round_no in range(args.rounds):
                events = list(make_events(round_no, args.events, args.customers))
                bodies = [json.dumps({"events": events[i : i + args.batch]}) for i in range(0, len(events), args.batch)]
                api_seconds = post_batches(port, key, bodies, args.connections)
                customer_ids = dict(program.customers.values_list("external_id", "id"))
                copy_seconds = copy_baseline(program, round_no, events, customer_ids)
                api_rates.append(args.events / api_seconds)
                copy_rates.append(args.events / copy_seconds)
                print(
                    f"round {round_no + 1}: API {api_rates[-1]:,.0f} events/s ({api_seconds:.2f} s)   "
                    f"COPY {copy_rates[-1]:,.0f} rows/s ({copy_seconds:.2f} s)   "
                    f"ratio {api_rates[-1] / copy_rates[-1]:.2f}"
                )
        stored = Event.objects.filter(program=program).count()
        assert stored == args.events * args.rounds, f"expected {args.events * args.rounds} stored, found {stored}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_events_copy")
        from config.celery import app

        app.control.purge()
    api, copy = median(api_rates), median(copy_rates)
    print(
        f"\nmedian of {args.rounds}: API ingest {api:,.0f} events/s, PostgreSQL COPY {copy:,.0f} rows/s, "
        f"API/COPY = {api / copy:.2f}  (batch {args.batch}, {args.connections} connections, "
        f"{args.workers} gunicorn workers, {args.events:,} events per round)"
    )


if __name__ == "__main__":
    main()
