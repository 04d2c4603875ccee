"""Benchmark: full re-score of 100,000 customers / 1,000,000 events vs the plain GROUP BY
aggregate over the same events, and the metrics endpoint for all metrics over a year.

Run on a throwaway PostgreSQL:
    scripts/services.sh run .venv/bin/python bench/scoring.py [--customers N] [--events N]
For quick iterations against a long-lived database (DATABASE_URL set by hand), `--reuse`
takes the latest bench program of the same size instead of loading again, `--fresh-scores`
deletes its scores first (to time a first run again), `--only scoring|metrics` times one part.
Prints customers scored per second and the ratio re-score / plain aggregate (goal: ≤ 2×),
and the metrics endpoint time (goal: < 1 s). Never part of the test suite.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from engagement import metrics, processing, scoring  # noqa: E402
from engagement.models import (  # noqa: E402
    Customer,
    CustomerEventCount,
    CustomerScore,
    CustomerScoreSnapshot,
    Event,
    PartnerKey,
    Program,
    ScoreTransition,
)

TYPES = [
    ("page_view", 35),
    ("session", 12),
    ("purchase", 10),
    ("email_sent", 8),
    ("email_opened", 5),
    ("email_clicked", 2),
    ("social_like", 6),
    ("social_share", 2),
    ("survey_answered", 2),
    ("referral_sent", 1),
    ("referral_converted", 0.3),
    ("event_attended", 0.7),
    ("cart_updated", 4),
]


AGGREGATE_CHUNK = 50_000


def best_of(n, fn):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def load(program, customers, events):
    load_customers(program, customers)
    load_events(program, customers, events)


def load_customers(program, customers):
    """`customers` customers "b-0" ... with COPY."""
    now = timezone.now()
    cols = (
        "program_id, external_id, name, email, phone, locale, timezone, attributes, consent_email, consent_sms, "
        "consent_whatsapp, consent_push, tier, event_count, purchase_count, revenue, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Customer._meta.db_table} ({cols}) FROM STDIN") as copy:
            for n in range(customers):
                copy.write_row(
                    (program.pk, f"b-{n}", "", "", "", "", "", "{}", True, False, False, False, "", 0, 0, 0, now, now)
                )


def load_events(program, customers, events):
    """`events` processed events of the program's `customers` loaded customers with COPY (over
    the last 400 days, a few customers busy, most quiet), then their per-customer aggregates."""
    rng = random.Random(1)
    now = timezone.now()
    table, events_table = Customer._meta.db_table, Event._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor
        cursor.execute(f"SELECT MIN(id) FROM {table} WHERE program_id = %s", [program.pk])
        first_id = cursor.fetchone()[0]
        names, weights = zip(*TYPES)
        cols = "program_id, customer_id, event_id, type, occurred_at, received_at, value, currency, properties, processed_at"
        with raw.copy(f"COPY {events_table} ({cols}) FROM STDIN") as copy:
            for n in range(events):
                type_ = rng.choices(names, weights)[0]
                customer = first_id + int(customers * rng.random() ** 1.6)
                at = now - timedelta(seconds=rng.randrange(400 * 86400))
                value, props = None, "{}"
                if type_ == "purchase":
                    value, props = f"{rng.randrange(500, 20000) / 100:.2f}", '{"order_id": "o"}'
                elif type_ == "survey_answered":
                    props = f'{{"survey": "1", "kind": "nps", "score": {rng.randrange(11)}}}'
                elif type_.startswith("email"):
                    props = f'{{"message_id": "m-{n % 20}"}}'
                copy.write_row((program.pk, customer, f"e-{n}", type_, at, now, value, "", props, now))
    # The per-customer aggregates that event processing keeps (the events are loaded as
    # already processed), by the function processing uses, a chunk of events at a time.
    # Only the rows just loaded (all stamped processed at `now`): events that came through the
    # API are the processing's to count.
    loaded = Event.objects.filter(program=program, processed_at=now)
    event_ids = list(loaded.order_by("id").values_list("id", flat=True))
    for start in range(0, len(event_ids), AGGREGATE_CHUNK):
        with transaction.atomic():
            processing.update_aggregates(event_ids[start : start + AGGREGATE_CHUNK])
    # What autovacuum does to a freshly loaded table (statistics, hint bits, visibility map),
    # before anything is timed: baseline and candidates alike then read settled tables.
    with connection.cursor() as cursor:
        for settled in (table, events_table, CustomerEventCount._meta.db_table):
            cursor.execute(f"VACUUM ANALYZE {settled}")


def plain_aggregate(program):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute(
            f"""CREATE TEMP TABLE bench_plain AS
                SELECT customer_id, COUNT(*) AS n, MAX(occurred_at) AS last_at, SUM(value) AS revenue
                FROM {Event._meta.db_table} WHERE program_id = %s GROUP BY customer_id""",
            [program.pk],
        )


def reusable_program(customers, events):
    """The latest bench program with exactly this many customers and events, or None."""
    for program in Program.objects.filter(slug__startswith="bench-").order_by("-id"):
        if Customer.objects.filter(program=program).count() == customers:
            if Event.objects.filter(program=program).count() == events:
                return program
    return None


def forget_scores(program):
    """Back to "never scored": the next re-score is a first run again."""
    with connection.cursor() as cursor:
        for model in (CustomerScore, CustomerScoreSnapshot, ScoreTransition):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE program_id = %s", [program.pk])
        cursor.execute("VACUUM ANALYZE")


def bench_scoring(program, customers, fresh):
    plain = best_of(3, lambda: plain_aggregate(program))
    print(f"plain GROUP BY customer_id aggregate (best of 3): {plain:.3f} s")
    if fresh:
        first = best_of(1, lambda: scoring.rescore_program(program))
        print(f"full re-score, first run (incl. {3 * customers:,} transitions): {first:.3f} s")
    again = best_of(3, lambda: scoring.rescore_program(program))
    plain_after = best_of(3, lambda: plain_aggregate(program))
    plain = min(plain, plain_after)
    print(f"plain aggregate again after the re-scores (best of 3): {plain_after:.3f} s")
    print(f"full re-score, steady state (best of 3): {again:.3f} s")
    # The nightly case: a day later every churn risk and raw score has moved, so most rows
    # are written again (the steady state above writes only the rows that changed).
    tomorrow = timezone.now() + timedelta(days=1)
    next_day = best_of(1, lambda: scoring.rescore_program(program, now=tomorrow))
    print(f"full re-score as of tomorrow (most rows change): {next_day:.3f} s ({next_day / plain:.2f}x)")
    first_note = f" (first run {customers / first:,.0f})" if fresh else ""
    print(f"customers scored per second: {customers / again:,.0f}{first_note}")
    first_note = f" (first run {first / plain:.2f}x)" if fresh else ""
    print(f"ratio re-score / plain aggregate (best baseline): {again / plain:.2f}x{first_note}; goal <= 2x")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="reuse a loaded bench program of the same size")
    parser.add_argument("--fresh-scores", action="store_true", help="with --reuse: delete scores first")
    parser.add_argument("--only", choices=["scoring", "metrics"])
    parser.add_argument(
        "--paired", type=int, default=0, help="then N interleaved rounds (baseline, re-score, endpoint): median ratios"
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="DAYS",
        help="with --reuse: one nightly and one steady pass as of DAYS days from now, rolled back, "
        "against the plain aggregate (wall and backend CPU time); to alternate two code versions on one database",
    )
    args = parser.parse_args()
    if settings.EMBEDDED:  # not on the demo's database
        sys.exit("Run on a throwaway database: scripts/services.sh run .venv/bin/python bench/scoring.py")
    call_command("migrate", verbosity=0)
    program = reusable_program(args.customers, args.events) if args.reuse else None
    fresh = program is None or args.fresh_scores
    if program is None:
        program = Program.objects.create(name="Bench", slug=f"bench-{int(time.time())}")
        started = time.perf_counter()
        load(program, args.customers, args.events)
        elapsed = time.perf_counter() - started
        print(f"loaded {args.customers:,} customers and {args.events:,} events with COPY in {elapsed:.1f} s")
    elif args.fresh_scores:
        forget_scores(program)
    if args.sample is not None:
        bench_sample(program, args.sample)
        return
    if args.only != "metrics":
        bench_scoring(program, args.customers, fresh)
    if args.only != "scoring":
        bench_metrics(program)
    if args.paired:
        bench_paired(program, args.paired)


def bench_paired(program, rounds):
    """Baseline and candidates back to back, `rounds` times: on a shared machine whose speed
    drifts between minutes, only ratios taken within one round compare like with like.
    Round n re-scores as of n days later (the nightly case: every churn risk and raw score
    moved, a new day of snapshots), then again at that same instant (the steady state)."""
    call = metrics_call(program)
    ratios, nightly_ratios, endpoint = [], [], []
    for n in range(rounds):
        later = timezone.now() + timedelta(days=n + 1)
        plain = best_of(1, lambda: plain_aggregate(program))
        results = []
        nightly = best_of(1, lambda at=later, out=results: out.append(scoring.rescore_program(program, now=at)))
        again = best_of(1, lambda at=later: scoring.rescore_program(program, now=at))
        took = best_of(1, call)
        ratios.append(again / plain)
        nightly_ratios.append(nightly / plain)
        endpoint.append(took)
        day = scoring.local_date(program, later)
        snapshots = CustomerScoreSnapshot.objects.filter(program=program, date=day).count()
        print(
            f"round {n + 1}: plain {plain:.3f} s, nightly re-score {nightly:.3f} s ({nightly / plain:.2f}x; "
            f"{results[0].transitions:,} transitions, {results[0].scores_written:,} score rows written, "
            f"{snapshots:,} snapshot rows), "
            f"steady re-score {again:.3f} s ({again / plain:.2f}x), endpoint {took:.3f} s"
        )
    print(
        f"paired, median of {rounds}: steady re-score / plain aggregate {statistics.median(ratios):.2f}x, "
        f"nightly {statistics.median(nightly_ratios):.2f}x, endpoint {statistics.median(endpoint):.3f} s"
    )


class _Undo(Exception):
    pass


def bench_sample(program, days):
    """A nightly pass as of `days` days from now and a steady pass at that instant, both rolled
    back (so two code versions can be timed alternately on the same stored state; commit a pass
    as of `days` - 1 first for a one-day nightly), against the plain aggregate (min of 3). Also
    the CPU time of this connection's PostgreSQL backend, which a loaded machine moves far less
    than wall time (a local server only: read from /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def cpu():
        if not stat.exists():
            return float("nan")
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def timed(fn):
        cpu0, started = cpu(), time.perf_counter()
        out = fn()
        return time.perf_counter() - started, cpu() - cpu0, out

    at = timezone.now() + timedelta(days=days)
    plains = [timed(lambda: plain_aggregate(program)) for _ in range(2)]
    try:
        with transaction.atomic():
            nightly = timed(lambda: scoring.rescore_program(program, now=at))
            steady = timed(lambda: scoring.rescore_program(program, now=at))
            raise _Undo
    except _Undo:
        pass
    plains.append(timed(lambda: plain_aggregate(program)))
    wall, cpu_time = min(p[0] for p in plains), min(p[1] for p in plains)
    result = nightly[2]
    written = getattr(result, "scores_written", None)  # None: code from before it was counted
    print(
        f"sample +{days}d: plain {wall:.3f} s (CPU {cpu_time:.2f} s); nightly {nightly[0]:.3f} s "
        f"({nightly[0] / wall:.2f}x, CPU {nightly[1] / cpu_time:.2f}x; {result.transitions:,} transitions, "
        f"{'?' if written is None else f'{written:,}'} score rows); steady {steady[0]:.3f} s ({steady[0] / wall:.2f}x, "
        f"CPU {steady[1] / cpu_time:.2f}x)"
    )


def metrics_call(program, segment=None):
    """A function that GETs /api/v1/metrics for every metric over the last 365 days (of the
    customers of `segment`, if given)."""
    _, raw_key = PartnerKey.issue(program, "bench")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    end = timezone.now()
    query = {"start": (end - timedelta(days=365)).isoformat(), "end": end.isoformat()}
    if segment:
        query["segment"] = segment

    def call():
        response = client.get("/api/v1/metrics", query, secure=True)  # as behind the TLS proxy
        assert response.status_code == 200, response.content

    return call


def bench_metrics(program):
    endpoint = best_of(3, metrics_call(program))
    print(
        f"GET /api/v1/metrics, all {len(metrics.metric_names())} metrics over a year (best of 3): {endpoint:.3f} s (goal < 1 s)"
    )
    champions = CustomerScore.objects.filter(program=program, segment="Champions").count()
    if champions:
        took = best_of(3, metrics_call(program, "Champions"))
        print(f"  the same with segment=Champions ({champions:,} customers, best of 3): {took:.3f} s")


if __name__ == "__main__":
    main()
