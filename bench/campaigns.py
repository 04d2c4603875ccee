"""Campaign benchmark: events through engagement's processing with 20 active campaigns,
against the same processing with no campaign active (the raw baseline), in one run.

Run on throwaway servers:
    scripts/services.sh run .venv/bin/python bench/campaigns.py [--events 1000000] [--customers 20000]

Events are stored with engagement.ingest.record_events in batches of 1,000 and processed by
engagement.processing.process_events (what process_events_task runs), batch after batch.
Reported: events evaluated per second (processing only), ingest-to-grant latency per batch
(from the start of record_events to the commit of the processing transaction that granted),
p50/p99, and the ratio of processing time with campaigns to without. Half of --events go
through the baseline, half through the campaigns (the same mix of types and customers).
"""

import argparse
import contextlib
import os
import random
import re
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import quantiles

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_hex(16))
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

import django  # noqa: E402

django.setup()

from common import backend_cpu_ms  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from engagement.event_schema import CleanEvent  # noqa: E402
from engagement.ingest import record_events  # noqa: E402
from engagement.models import Customer, Program  # noqa: E402
from engagement.processing import process_events  # noqa: E402
from rewards.campaigns.lifecycle import create_campaign  # noqa: E402
from rewards.campaigns.models import ActionRun, Campaign, CampaignEffect, PendingTrigger  # noqa: E402

BATCH = 1000
MIX = {
    "page_view": 30,
    "session": 12,
    "purchase": 10,
    "email_opened": 8,
    "social_like": 6,
    "cart_updated": 5,
    "cart_abandoned": 2,
    "ticket_opened": 1,
    "referral_converted": 0.5,
    "survey_answered": 1,
    "app_uninstalled": 0.2,
}


def campaigns_definitions():
    """20 campaigns of mixed kinds, conditions, limits and one budgeted (row-locked)."""
    points = [{"kind": "grant_points", "config": {"points": 10}}]
    percent = [{"kind": "grant_points", "config": {"percent": "5"}}]
    hook = [{"kind": "emit_webhook", "config": {"type": "reward.granted"}}]
    d = []
    for low in (50, 100, 150, 200):
        d.append(("event", {"event_type": "purchase", "min_value": str(low)}, percent, {}))
    d += [
        ("nth_event", {"event_type": "purchase", "n": 5}, points, {}),
        ("nth_event", {"event_type": "purchase", "n": 10}, points, {}),
        ("nth_event", {"event_type": "session", "n": 20, "repeat": True}, points, {}),
        ("cart_abandoned", {"minutes": 15}, points, {"per_customer": 1, "per_customer_period_days": 7}),
        ("ticket_unresolved", {"hours": 48}, hook, {}),
        ("survey_answered", {"kind": "nps", "band": "detractor"}, hook, {}),
        ("survey_answered", {"kind": "nps", "band": "promoter"}, points, {"per_customer": 1}),
        ("referral_converted", {}, [{"kind": "grant_points", "config": {"points": 200}}], {}),
        ("event", {"event_type": "app_uninstalled"}, hook, {"per_customer": 1}),
        (
            "event",
            {"event_type": "page_view", "conditions": [{"field": "properties.url", "op": "eq", "value": "/checkout"}]},
            points,
            {"per_customer": 3, "per_customer_period_days": 30},
        ),
        ("event", {"event_type": "email_opened"}, points, {"per_customer": 1}),
        ("event", {"event_type": "social_like"}, points, {"per_customer": 2}),
        (
            "event",
            {"event_type": "purchase", "conditions": [{"field": "properties.recurring", "op": "eq", "value": True}]},
            points,
            {},
        ),
        ("event", {"event_type": "purchase", "min_value": "240"}, points, {"budget_points": 10**9}),
        ("event", {"event_type": "cart_updated"}, points, {"per_customer": 1, "per_customer_period_days": 1}),
        (
            "event",
            {"event_type": "session", "conditions": [{"field": "value", "op": "exists", "value": True}]},
            points,
            {},
        ),
    ]
    assert len(d) == 20
    return d


def make_events(rng, prefix, count, customers, start):
    types, weights = zip(*MIX.items())
    for n in range(count):
        type_ = rng.choices(types, weights)[0]
        value, props = None, {}
        if type_ == "purchase":
            value = Decimal(rng.randrange(800, 25000)) / 100
            props = {"order_id": f"{prefix}-{n}", "recurring": rng.random() < 0.15}
        elif type_ == "page_view":
            props = {"url": rng.choice(["/", "/shop", "/checkout", "/help"])}
        elif type_ == "session":
            props = {"duration_seconds": 30, "page_views": 2, "exit_page": "/"}
        elif type_ == "email_opened":
            props = {"message_id": "m1"}
        elif type_ == "social_like":
            props = {"network": "x"}
        elif type_ == "ticket_opened":
            props = {"ticket_id": f"{prefix}-t{n}"}
        elif type_ == "referral_converted":
            props = {"referred_customer": "x"}
        elif type_ == "survey_answered":
            props = {"survey": 1, "kind": "nps", "score": rng.randrange(11)}
        yield CleanEvent(
            event_id=f"{prefix}-{n}",
            type=type_,
            customer=customers[int(len(customers) * rng.random() ** 1.8)],
            occurred_at=start + timedelta(seconds=n * 3),
            value=value,
            currency="MYR" if value is not None else "",
            properties=props,
        )


def backend_cpu():
    """CPU seconds (user + system) this connection's PostgreSQL backend has used so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return backend_cpu_ms(pid) / 1000


def wal_position():
    """The server's WAL insert position (an LSN, text)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        return cursor.fetchone()[0]


def wal_since(position):
    """WAL bytes written since `position` (by anyone: the bench is the only writer)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", [position])
        return int(cursor.fetchone()[0])


CPU = {}
WAL = {}


def run(program, prefix, count, customers):
    """Ingest and process `count` events batch by batch; (processing seconds, latencies).
    CPU[prefix]: (this process's, the PostgreSQL backend's) CPU seconds of the processing;
    WAL[prefix]: the WAL bytes it wrote (rows and index entries: the write amplification)."""
    rng = random.Random(prefix)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch, processing, latencies = [], 0.0, []
    cpu = [0.0, 0.0]
    for event in make_events(rng, prefix, count, customers, start):
        batch.append(event)
        if len(batch) == BATCH:
            t0 = time.perf_counter()
            ids = record_events(program, batch, enqueue=False).event_ids
            t1 = time.perf_counter()
            c1, b1, w1 = time.process_time(), backend_cpu(), wal_position()
            process_events(ids)
            cpu[0] += time.process_time() - c1
            cpu[1] += backend_cpu() - b1
            CPU[prefix] = tuple(cpu)
            WAL[prefix] = WAL.get(prefix, 0) + wal_since(w1)
            t2 = time.perf_counter()
            processing += t2 - t1
            latencies.append(t2 - t0)
            batch = []
            if len(latencies) % 50 == 0:
                done = len(latencies) * BATCH
                print(f"  {prefix}: {done:,} events, {done / processing:,.0f} events/s so far", file=sys.stderr)
    return processing, latencies


class QueryTimer:
    """execute_wrapper: total time and count per statement shape (numbers and lists folded)."""

    def __init__(self):
        self.stats = {}

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            shape = re.sub(r"(%s, )+%s|\d+", "?", sql)[:160]
            total, count = self.stats.get(shape, (0.0, 0))
            self.stats[shape] = (total + time.perf_counter() - t0, count + 1)

    def report(self, top=20):
        print(f"{sum(n for _, n in self.stats.values()):,} statements")
        for shape, (total, count) in sorted(self.stats.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"{total:8.3f} s {count:6,}x  {shape}")


def pct(values, q):
    return quantiles(values, n=100)[q - 1] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--profile", help="write cProfiles of both runs: FILE (campaigns) and FILE-baseline.prof")
    parser.add_argument("--queries", action="store_true", help="print the SQL statements that took longest")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    program, _ = Program.objects.get_or_create(slug="bench-campaigns", defaults={"name": "Bench", "currency": "MYR"})
    Customer.objects.bulk_create(
        [
            Customer(program=program, external_id=f"c{n}", email=f"c{n}@example.com", consent_email=True)
            for n in range(args.customers)
        ],
        ignore_conflicts=True,
    )
    customers = [f"c{n}" for n in range(args.customers)]
    with transaction.atomic():
        made = [
            create_campaign(
                program,
                {
                    "name": f"bench {i}",
                    "status": "draft",
                    "trigger": {"kind": k, "config": c},
                    "actions": a,
                    "limits": lim,
                },
            )
            for i, (k, c, a, lim) in enumerate(campaigns_definitions())
        ]
    half = args.events // 2
    print(f"{half:,} events per run, batches of {BATCH}, {args.customers:,} customers, {len(made)} campaigns")

    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    base_time, base_lat = run(program, "base", half, customers)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile.replace(".prof", "") + "-baseline.prof")
    Campaign.objects.filter(pk__in=[c.pk for c in made]).update(status="active")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    timer = QueryTimer()
    with connection.execute_wrapper(timer) if args.queries else contextlib.nullcontext():
        camp_time, camp_lat = run(program, "camp", half, customers)
    if args.queries:
        timer.report()
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)

    effects = CampaignEffect.objects.filter(campaign__in=made).count()
    runs = ActionRun.objects.filter(campaign__in=made, status="done").count()
    waiting = PendingTrigger.objects.filter(campaign__in=made).count()
    print(
        f"baseline (no campaign active): {half / base_time:,.0f} events/s processed; "
        f"ingest->commit p50 {pct(base_lat, 50):.0f} ms, p99 {pct(base_lat, 99):.0f} ms"
    )
    print(
        f"20 active campaigns:           {half / camp_time:,.0f} events/s evaluated; "
        f"ingest->grant p50 {pct(camp_lat, 50):.0f} ms, p99 {pct(camp_lat, 99):.0f} ms"
    )
    for label, prefix in (("baseline", "base"), ("campaigns", "camp")):
        python, server = CPU[prefix]
        print(
            f"CPU per 1,000 events, {label}: {python * 1000 * BATCH / half:.0f} ms Python"
            f" + {server * 1000 * BATCH / half:.0f} ms PostgreSQL backend;"
            f" WAL {WAL[prefix] * BATCH / half / 1024:,.0f} KiB"
        )
    print(f"effects {effects:,}, actions done {runs:,}, deferred triggers waiting {waiting:,}")
    print(f"ratio (processing time with campaigns / without): {camp_time / base_time:.2f}x")


if __name__ == "__main__":
    main()
