"""Profile of the metrics endpoint's work: each built-in metric alone and in the shared call
(every metric of the endpoint in one compute_metrics call, as GET /api/v1/metrics does), and
the slowest SQL statements of the shared call with EXPLAIN (ANALYZE, BUFFERS).

Against a loaded bench program (bench/scoring.py loads one; DATABASE_URL set by hand):
    .venv/bin/python bench/metrics_profile.py [--customers N] [--events N] [--segment S] [--explain K]
Never part of the test suite.
"""

import argparse
import os
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

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.scoring import metrics_call, reusable_program  # noqa: E402
from engagement import metrics  # noqa: E402
from engagement.metrics.base import BUILTIN  # noqa: E402


class Statements:
    def __init__(self):
        self.seen = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seen.append((time.perf_counter() - started, sql, params))


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def backend_cpu(pids={}):  # noqa: B006 - the backend's pid, asked once
    """CPU seconds used so far by this connection's PostgreSQL backend (a server on this
    machine): unlike wall time, hardly moved by the other work of a shared machine."""
    if "pid" not in pids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids["pid"] = cursor.fetchone()[0]
    pid = pids["pid"]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_timed(fn):
    started = backend_cpu()
    fn()
    return backend_cpu() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--segment", default=None)
    parser.add_argument("--explain", type=int, default=4, help="EXPLAIN ANALYZE the K slowest statements")
    parser.add_argument("--endpoint", type=int, default=3, help="then N endpoint calls (median)")
    parser.add_argument("--endpoint-only", action="store_true", help="only the endpoint calls (paired runs)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="per-metric table in backend CPU seconds, parallel query off (a local server)",
    )
    parser.add_argument(
        "--rollups",
        choices=["build", "dirty", "keep"],
        default="keep",
        help="build the daily metric totals first (as the beat would have), mark them all dirty "
        "(every day from the events), or leave them as they are; main's code has none",
    )
    parser.add_argument("--endpoint-cpu", action="store_true", help="endpoint calls in backend CPU seconds too")
    args = parser.parse_args()
    program = reusable_program(args.customers, args.events)
    if program is None:
        sys.exit("no bench program of that size: load one with bench/scoring.py")
    if args.rollups != "keep":
        rollups(program, args.rollups)
    end = timezone.now()
    start = end - timedelta(days=365)
    names = list(BUILTIN)
    if args.cpu:
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
    metrics.compute_metrics(program, names, start, end, args.segment)  # warm the caches
    if not args.endpoint_only:
        profile(program, names, start, end, args)
    if args.endpoint:
        call = metrics_call(program, args.segment)
        call()
        times = [timed(call) for _ in range(args.endpoint)]
        print(
            f"GET /api/v1/metrics, all metrics over a year: median of {args.endpoint} {statistics.median(times):.3f} s "
            f"({', '.join(f'{t:.3f}' for t in times)}); load average {os.getloadavg()[0]:.2f}"
        )
        if args.endpoint_cpu:
            cpu = [cpu_timed(call) for _ in range(args.endpoint)]
            print(
                f"  backend CPU per call: median {statistics.median(cpu):.3f} s ({', '.join(f'{t:.3f}' for t in cpu)})"
            )


def rollups(program, how):
    """The daily metric totals (engagement.metrics.rollup) built, or all marked dirty."""
    from engagement.metrics import rollup
    from engagement.models import MetricDay

    if how == "dirty":
        MetricDay.objects.filter(program=program).update(dirty=True)
        return
    started, cpu_before = time.perf_counter(), backend_cpu()
    days = rollup.build_program(program.pk)
    print(
        f"rollups: {days} days built in {time.perf_counter() - started:.1f} s "
        f"(backend CPU {backend_cpu() - cpu_before:.1f} s)"
    )


def profile(program, names, start, end, args):
    clock = cpu_timed if args.cpu else timed
    now = backend_cpu if args.cpu else time.perf_counter
    alone = {
        name: clock(lambda n=name: metrics.compute_metrics(program, [n], start, end, args.segment)) for name in names
    }
    # In the shared call: the time each metric adds (the first of a family pays for the pass).
    shared = {}
    original = {name: BUILTIN[name] for name in names}
    try:
        for name, (fn, unit, section) in original.items():

            def wrapped(ctx, fn=fn, name=name):
                started = now()
                try:
                    return fn(ctx)
                finally:
                    shared[name] = now() - started

            BUILTIN[name] = (wrapped, unit, section)
        statements = Statements()
        with connection.execute_wrapper(statements):
            total = clock(lambda: metrics.compute_metrics(program, names, start, end, args.segment))
    finally:
        BUILTIN.update(original)
    print(("backend CPU seconds, parallel query off" if args.cpu else "wall seconds") + ":")
    print(f"{'metric':28} {'alone s':>8} {'in shared call s':>16}")
    for name in names:
        print(f"{name:28} {alone[name]:8.3f} {shared.get(name, 0):16.3f}")
    print(f"{'sum alone':28} {sum(alone.values()):8.3f}")
    print(f"shared call, all {len(names)} built-in metrics: {total:.3f} s, {len(statements.seen)} statements")
    slowest = sorted(statements.seen, key=lambda s: -s[0])[: args.explain]
    for took, sql, params in slowest:
        print(f"\n--- {took:.3f} s\n{sql[:600]}")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
