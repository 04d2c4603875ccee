"""Pipeline benchmark: the real stack (gunicorn, Celery workers, PostgreSQL, Redis) under a
partner posting as fast as the API accepts, with no campaign and with 20 active campaigns.

Run on throwaway servers (ports 8170-8179 unless --port is given):
    scripts/services.sh run .venv/bin/python bench/pipeline.py [--seconds 30] [--celery 2] [--shards N]
        [--max-backlog N]   # EVENTS_MAX_BACKLOG of the web processes (0: no admission control)

After a short warm-up (--warmup seconds of posting, not reported), phases, one after the
other on the same database (the campaigns bench's event mix, customers
and 20 campaigns, bench/campaigns.py):
  1. base: no campaign active, posting for --seconds at full speed;
  2. campaigns: the 20 campaigns active, posting for --seconds at full speed;
  3. paced: the 20 campaigns, posting at 80 % of the smaller of phase 2's ingest and
     processed rates (unless --no-paced).
The client honours backpressure: a 429 (`ingest_backlog`, or the rate limit) makes that
connection sleep Retry-After seconds and send the same batch again (the same event_ids).
Each phase ends when its backlog is empty (or after --drain seconds). Reported per phase:
the machine's CPU use while posting (all cores, /proc/stat, niced processes left out), the
steady state (accepted and processed events/s once the backlog has filled to the admission
limit, until posting ends), the ingest rate (accepted events / posting time), the refused requests and the time spent
waiting on Retry-After, the processed rate while posting and overall (until the backlog
emptied), the backlog every --sample seconds (the database's count, and engagement.backlog's
Redis counter that admission control reads) and its maximum, and the
ingest->grant latency p50/p99: from an event's received_at (set by ingestion) to the COMMIT
of the processing transaction that claimed it, which is the transaction that writes its
grants. The commit time is taken by a deferred constraint trigger (it fires at COMMIT) on
every 10th event; the trigger is bench-only and dropped at the end.
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_hex(16))
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("API_RATE_LIMIT", "100000000/min")

from campaigns import campaigns_definitions, make_events  # noqa: E402  (sets Django up)
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from engagement import backlog as backlog_counter  # noqa: E402
from engagement.models import Customer, Event, PartnerKey, Program  # noqa: E402
from rewards.campaigns.lifecycle import create_campaign  # noqa: E402
from rewards.campaigns.models import Campaign  # noqa: E402

BATCH = 1000
EVENTS = Event._meta.db_table
SAMPLE_EVERY = 10  # every 10th event's commit time is recorded


def install_commit_probe():
    """A deferred constraint trigger: fires at COMMIT of the transaction that claims an event."""
    with connection.cursor() as cursor:
        cursor.execute(
            """CREATE UNLOGGED TABLE IF NOT EXISTS bench_commit_probe (
                   event_id bigint PRIMARY KEY, committed_at timestamptz NOT NULL)"""
        )
        cursor.execute(
            """CREATE OR REPLACE FUNCTION bench_commit_probe() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   INSERT INTO bench_commit_probe VALUES (NEW.id, clock_timestamp()) ON CONFLICT DO NOTHING;
                   RETURN NULL;
               END $$"""
        )
        cursor.execute(f"DROP TRIGGER IF EXISTS bench_commit_probe ON {EVENTS}")
        cursor.execute(
            f"""CREATE CONSTRAINT TRIGGER bench_commit_probe AFTER UPDATE OF processed_at ON {EVENTS}
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                WHEN (OLD.processed_at IS NULL AND NEW.processed_at IS NOT NULL AND NEW.id % {SAMPLE_EVERY} = 0)
                EXECUTE FUNCTION bench_commit_probe()"""
        )


def remove_commit_probe():
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS bench_commit_probe ON {EVENTS}")
        cursor.execute("DROP FUNCTION IF EXISTS bench_commit_probe()")
        cursor.execute("DROP TABLE IF EXISTS bench_commit_probe")


def start(command, env):
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop(process):
    if process.poll() is None:
        process.terminate()  # the main process: gunicorn and Celery stop their children
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def json_events(rng_prefix, count, customers):
    import random

    rng = random.Random(rng_prefix)
    for event in make_events(rng, rng_prefix, count, customers, datetime(2026, 1, 1, tzinfo=UTC)):
        if event.type == "survey_answered":  # recorded by the platform only; refused by the API
            continue
        body = {
            "event_id": event.event_id,
            "type": event.type,
            "customer": event.customer,
            "occurred_at": event.occurred_at.isoformat(),
            "properties": event.properties,
        }
        if event.value is not None:
            body["value"] = str(event.value)
        yield body


class Poster:
    """Posts batches over keep-alive connections until `seconds` pass; optionally paced."""

    def __init__(self, port, key, prefix, customers, connections, rate):
        self.port, self.key, self.connections, self.rate = port, key, connections, rate
        self.source = json_events(prefix, 10**8, customers)
        self.lock = threading.Lock()
        self.accepted = 0
        self.batches = 0
        self.refused = 0  # 429 answers (each one's batch was sent again after Retry-After)
        self.waited = 0.0  # seconds slept on Retry-After, all connections
        self.errors = []

    def next_body(self):
        with self.lock:
            events = [next(self.source) for _ in range(BATCH)]
            self.batches += 1
            return json.dumps({"events": events}), self.batches

    def run(self, seconds):
        deadline = time.perf_counter() + seconds
        self.started = time.perf_counter()

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
            while time.perf_counter() < deadline and not self.errors:
                body, n = self.next_body()
                if self.rate:  # batch n is due at n * BATCH / rate seconds after the start
                    delay = self.started + (n - 1) * BATCH / self.rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    if time.perf_counter() >= deadline:
                        break
                while True:  # until accepted, or the posting time is over
                    conn.request("POST", "/api/v1/events", body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    if response.status != 429:
                        break
                    # Backpressure: wait as told, then the same batch again (dedup makes it safe).
                    pause = min(float(response.getheader("Retry-After", "1")), deadline - time.perf_counter())
                    with self.lock:
                        self.refused += 1
                        self.waited += max(pause, 0.0)
                    if pause <= 0:
                        break
                    time.sleep(pause)
                if response.status == 429:
                    break
                if response.status != 202:
                    self.errors.append((response.status, payload[:300]))
                    break
                with self.lock:
                    self.accepted += json.loads(payload).get("accepted", BATCH)
            conn.close()

        threads = [threading.Thread(target=worker) for _ in range(self.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.perf_counter() - self.started


def backlog(program_id):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {EVENTS} WHERE processed_at IS NULL AND program_id = %s",
            [program_id],
        )
        return cursor.fetchone()[0]


def counted_backlog():
    """engagement.backlog's Redis counter: what admission control reads."""
    return backlog_counter.read()


def cpu_ticks():
    """The machine's (busy, total) CPU clock ticks since boot, all cores (/proc/stat). Busy
    leaves out niced processes' time (other people's background work on a shared machine:
    the bench's own processes run at normal priority)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return user + system + irq + softirq + steal, user + nice + system + idle + iowait + irq + softirq + steal


def steady(samples, posted_s, max_backlog):
    """Accepted and processed events/s, and the window's seconds, from the first sample at which
    the backlog (the database's count) had reached 90 % of the admission limit to the last
    sample taken while posting: the rates a partner posting at full speed for ever would see,
    once the allowed backlog is full. None when the limit is off or was not reached in time."""
    posting = [sample for sample in samples if sample[0] <= posted_s + 0.5]
    at_limit = [n for n, sample in enumerate(posting) if max_backlog and sample[2] >= 0.9 * max_backlog]
    if not at_limit or at_limit[0] >= len(posting) - 1:
        return None
    (t0, accepted0, backlog0, _), (t1, accepted1, backlog1, _) = posting[at_limit[0]], posting[-1]
    accepted = accepted1 - accepted0
    return accepted / (t1 - t0), (backlog0 + accepted - backlog1) / (t1 - t0), t1 - t0


def run_phase(name, program, key, customers, args, rate=0.0, seconds=None):
    """Post for `seconds` (args.seconds), sample the backlog, wait for it to drain; returns
    the figures."""
    backlog_counter.reconcile()  # as beat does every minute
    at_start = backlog(program.pk)  # a previous phase's events still waiting (it drains --drain s at most)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_commit_probe")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {EVENTS}")
        first_id = cursor.fetchone()[0]
    poster = Poster(args.port, key, f"p{secrets.token_hex(4)}", customers, args.connections, rate)
    thread = threading.Thread(target=poster.run, args=(seconds or args.seconds,))
    samples = []
    busy0, total0 = cpu_ticks()
    t0 = time.perf_counter()
    thread.start()
    while thread.is_alive():
        time.sleep(args.sample)
        samples.append((time.perf_counter() - t0, poster.accepted, backlog(program.pk), counted_backlog()))
    thread.join()
    if poster.errors:
        raise SystemExit(f"API errors: {poster.errors[:3]}")
    posted_s = poster.elapsed
    busy1, total1 = cpu_ticks()
    at_end = backlog(program.pk)
    processed_while_posting = at_start + poster.accepted - at_end
    drain_deadline = time.perf_counter() + args.drain
    left = at_end
    while left and time.perf_counter() < drain_deadline:
        time.sleep(args.sample)
        left = backlog(program.pk)
        samples.append((time.perf_counter() - t0, poster.accepted, left, counted_backlog()))
    total_s = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT extract(epoch FROM p.committed_at - e.received_at)
                FROM bench_commit_probe p JOIN {EVENTS} e ON e.id = p.event_id WHERE e.id > %s""",
            [first_id],
        )
        latencies = sorted(row[0] for row in cursor.fetchall())
    result = {
        "name": name,
        "rate_target": rate,
        "accepted": poster.accepted,
        "posted_s": posted_s,
        "ingest_rate": poster.accepted / posted_s,
        "processed_while_posting": processed_while_posting / posted_s,
        "processed_overall": (at_start + poster.accepted - left) / total_s,
        "backlog_at_start": at_start,
        "backlog_end_of_posting": at_end,
        "backlog_max": max([at_end] + [sample[2] for sample in samples]),
        "refused": poster.refused,
        "waited": poster.waited,
        "backlog_left": left,
        "drain_s": total_s - posted_s,
        "p50": quantiles(latencies, n=100)[49] if len(latencies) > 1 else float("nan"),
        "p99": quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan"),
        "samples": samples,
        "latency_count": len(latencies),
        "cpu_busy": (busy1 - busy0) / max(total1 - total0, 1),
        "steady": steady(samples, posted_s, args.max_backlog_effective),
    }
    print_phase(result)
    return result


def print_phase(r):
    target = f" (paced at {r['rate_target']:,.0f} events/s)" if r["rate_target"] else " (full speed)"
    print(f"\n== {r['name']}{target}")
    print("  t(s)   accepted   backlog   counted")
    for t, accepted, left, counted in r["samples"]:
        print(f"  {t:5.0f} {accepted:10,} {left:9,} {counted:9,}")
    print(
        f"  ingest {r['ingest_rate']:,.0f} events/s ({r['accepted']:,} in {r['posted_s']:.1f} s); "
        f"refused {r['refused']:,} requests (429), {r['waited']:.0f} s waited on Retry-After over all connections; "
        f"backlog {r['backlog_at_start']:,} at the start, max {r['backlog_max']:,}; "
        f"processed {r['processed_while_posting']:,.0f} events/s while posting, "
        f"{r['processed_overall']:,.0f} events/s overall; backlog {r['backlog_end_of_posting']:,} when posting "
        f"ended, drained in {r['drain_s']:.1f} s (left {r['backlog_left']:,})"
    )
    print(f"  machine CPU busy while posting: {r['cpu_busy']:.0%} of all cores (niced processes left out)")
    if r["steady"]:
        accepted, processed, window = r["steady"]
        print(
            f"  steady state (from the backlog at the admission limit to the end of posting, {window:.0f} s): "
            f"accepted {accepted:,.0f} events/s, processed {processed:,.0f} events/s"
        )
    print(
        f"  ingest->grant (commit of processing) p50 {r['p50'] * 1000:,.0f} ms, p99 {r['p99'] * 1000:,.0f} ms "
        f"({r['latency_count']:,} events sampled)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="posting time per phase")
    parser.add_argument("--warmup", type=float, default=10, help="posting time of the unreported warm-up")
    parser.add_argument("--drain", type=float, default=240, help="longest wait for the backlog to empty")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--web", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--celery", type=int, default=2, help="Celery worker processes on the ingest queue")
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help="INGEST_SHARDS: with N > 1, N Celery workers of one process each, one per queue ingest-<k>"
        " (--celery is then ignored)",
    )
    parser.add_argument("--port", type=int, default=8170)
    parser.add_argument("--sample", type=float, default=2.0, help="backlog sampling interval, seconds")
    parser.add_argument("--no-paced", action="store_true", help="skip the paced phase")
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=None,
        help="EVENTS_MAX_BACKLOG for the web processes (default: the setting's; 0: no admission control)",
    )
    args = parser.parse_args()
    if settings.EMBEDDED or not settings.REDIS_URL:
        raise SystemExit("Run on throwaway services: scripts/services.sh run .venv/bin/python bench/pipeline.py")

    call_command("migrate", verbosity=0)
    program, _ = Program.objects.get_or_create(slug="bench-pipeline", defaults={"name": "Bench", "currency": "MYR"})
    _, key = PartnerKey.issue(program, f"bench-{secrets.token_hex(3)}")
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
    install_commit_probe()

    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", "INGEST_SHARDS": str(args.shards)}
    if args.max_backlog is not None:
        env["EVENTS_MAX_BACKLOG"] = str(args.max_backlog)
    max_backlog = args.max_backlog if args.max_backlog is not None else settings.EVENTS_MAX_BACKLOG
    args.max_backlog_effective = max_backlog
    python = sys.executable
    web = start(
        [python, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.web)]
        + ["--log-level", "warning"],
        env,
    )
    quiet = ["--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if args.shards > 1:
        # One process per shard queue (docs/operations.md): shard 0's also takes the sweep.
        workers = [
            start(
                [python, "-m", "celery", "-A", "config", "worker", "-n", f"shard{k}@%h", "-c", "1"]
                + ["-Q", f"ingest-{k},ingest" if k == 0 else f"ingest-{k}", *quiet],
                env,
            )
            for k in range(args.shards)
        ]
    else:
        workers = [
            start(
                [python, "-m", "celery", "-A", "config", "worker", "-Q", "ingest", "-c", str(args.celery), *quiet], env
            )
        ]
    results = []
    try:
        wait_for_port(args.port)
        time.sleep(3)  # the Celery worker's processes start
        print(
            f"{args.customers:,} customers, {len(made)} campaigns, batches of {BATCH}, {args.connections} connections, "
            f"{args.web} gunicorn workers, "
            + (
                f"{args.shards} Celery processes, one per queue ingest-<k> (INGEST_SHARDS={args.shards})"
                if args.shards > 1
                else f"{args.celery} Celery processes (ingest queue)"
            )
            + f", {args.seconds:.0f} s per phase, EVENTS_MAX_BACKLOG={max_backlog:,}"
            + (" (no admission control)" if not max_backlog else "")
        )
        # Warm-up, not reported: each gunicorn worker's first requests load the URLconf and
        # the API's modules (seconds on a loaded machine), each Celery process its handlers.
        run_phase("warm-up (not counted)", program, key, customers, args, seconds=args.warmup)
        results.append(run_phase("base, no campaign active", program, key, customers, args))
        Campaign.objects.filter(pk__in=[c.pk for c in made]).update(status="active")
        time.sleep(1)
        results.append(run_phase("20 active campaigns", program, key, customers, args))
        if not args.no_paced:
            full = results[-1]
            rate = 0.8 * min(full["ingest_rate"], full["processed_overall"])
            results.append(run_phase("20 active campaigns, paced", program, key, customers, args, rate=rate))
    finally:
        stop(web)
        for worker in workers:
            stop(worker)
        remove_commit_probe()
        from config.celery import app

        app.control.purge()

    print("\nsummary")
    print(f"EVENTS_MAX_BACKLOG={max_backlog:,}")
    print(
        "| phase | accepted events/s | refused (429) | processed events/s (while posting / overall) "
        "| backlog max / at end of posting | CPU busy | steady state: accepted / processed events/s | p50 | p99 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        paced = f" @ {r['rate_target']:,.0f}/s" if r["rate_target"] else ""
        print(
            f"| {r['name']}{paced} | {r['ingest_rate']:,.0f} | {r['refused']:,} | "
            f"{r['processed_while_posting']:,.0f} / {r['processed_overall']:,.0f} | "
            f"{r['backlog_max']:,} / {r['backlog_end_of_posting']:,} | {r['cpu_busy']:.0%} | "
            + (f"{r['steady'][0]:,.0f} / {r['steady'][1]:,.0f} ({r['steady'][2]:.0f} s) | " if r["steady"] else "- | ")
            + f"{r['p50'] * 1000:,.0f} ms | {r['p99'] * 1000:,.0f} ms |"
        )
    camp = results[1]
    print(
        f"processed / ingest with 20 campaigns: {camp['processed_while_posting'] / camp['ingest_rate']:.2f} "
        f"(goal >= 1); base: {results[0]['processed_while_posting'] / results[0]['ingest_rate']:.2f}"
    )


if __name__ == "__main__":
    main()
