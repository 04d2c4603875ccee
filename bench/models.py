"""Benchmark: the purchase-model fit (BG/NBD + Gamma-Gamma) of 100,000 customers / 1,000,000
purchases against the plain GROUP BY that builds the per-customer summary, in the same run.

Run on a throwaway PostgreSQL:
    scripts/services.sh run .venv/bin/python bench/models.py [--customers N] [--events N] [--rounds 3]
Loads customers and purchase events with COPY (simulated from BG/NBD: acquisition over the
first 52 of 78 weeks, Gamma-Gamma spend), runs VACUUM ANALYZE, then times, best of --rounds:
- baseline: `CREATE TEMP TABLE … AS SELECT customer_id, COUNT(*), MIN/MAX(occurred_at),
  SUM(value) … GROUP BY customer_id` over the program's purchases;
- purchase_summary (the model's summary: local calendar days, x, t_x, T, repeat value, fetched
  into numpy), the two fits on it, and the whole `fit_models` (summary, fits, the backtest's
  second summary, holdout counts and fit, the insert of every customer's values);
and prints each and its ratio to the baseline. Never part of the test suite.
"""

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from engagement import purchase_models  # noqa: E402
from engagement.models import Customer, Event, Program  # noqa: E402

WEEKS = 78
# Simulation parameters (weeks), chosen so that 100,000 customers make about 1,000,000 purchases.
R, ALPHA, A, B = 1.4, 5.5, 0.5, 7.0


def best_of(n, fn):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def simulated_purchases(customers, events, seed=1):
    """(customer index, weeks after the window's start) of BG/NBD purchases, cut at `events`."""
    rng = np.random.default_rng(seed)
    rates, dropouts = rng.gamma(R, 1 / ALPHA, customers), rng.beta(A, B, customers)
    firsts = rng.uniform(0, 52, customers)
    out = []
    for n in range(customers):
        t = firsts[n]
        while t < WEEKS and len(out) < events:
            out.append((n, t))
            if t > firsts[n] and rng.random() < dropouts[n]:
                break
            t += rng.exponential(1 / rates[n])
    return out


def load(program, customers, events):
    now = timezone.now()
    start = now - timedelta(weeks=WEEKS)
    table, events_table = Customer._meta.db_table, Event._meta.db_table
    purchases = simulated_purchases(customers, events)
    spend = np.random.default_rng(2).gamma(6.0, 25.0 / 6.0, len(purchases))
    with connection.cursor() as cursor:
        raw = cursor.cursor
        cols = (
            "program_id, external_id, name, email, phone, locale, timezone, attributes, consent_email, consent_sms, "
            "consent_whatsapp, consent_push, tier, event_count, purchase_count, revenue, created_at, updated_at"
        )
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for n in range(customers):
                copy.write_row(
                    (program.pk, f"m-{n}", "", "", "", "", "", "{}", True, False, False, False, "", 0, 0, 0, now, now)
                )
        cursor.execute(f"SELECT MIN(id) FROM {table} WHERE program_id = %s", [program.pk])
        first_id = cursor.fetchone()[0]
        cols = "program_id, customer_id, event_id, type, occurred_at, received_at, value, currency, properties, processed_at"
        with raw.copy(f"COPY {events_table} ({cols}) FROM STDIN") as copy:
            for n, ((customer, week), value) in enumerate(zip(purchases, spend, strict=True)):
                at = start + timedelta(weeks=week)
                copy.write_row(
                    (program.pk, first_id + customer, f"p-{n}", "purchase", at, now, f"{value:.2f}", "", "{}", now)
                )
        for settled in (table, events_table):
            cursor.execute(f"VACUUM ANALYZE {settled}")
    return len(purchases)


def plain_aggregate(program):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_plain")
        cursor.execute(
            f"""CREATE TEMP TABLE bench_plain AS
                SELECT customer_id, COUNT(*) AS n, MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at,
                       SUM(value) AS revenue
                FROM {Event._meta.db_table} WHERE program_id = %s AND type = 'purchase' GROUP BY customer_id""",
            [program.pk],
        )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run on PostgreSQL: scripts/services.sh run .venv/bin/python bench/models.py")
    call_command("migrate", verbosity=0)
    # Every customer is valued (the threshold is the default 200 repeat buyers).
    program = Program.objects.create(name="Bench models", slug=f"bench-models-{int(time.time())}")
    started = time.perf_counter()
    loaded = load(program, args.customers, args.events)
    print(
        f"loaded {args.customers:,} customers and {loaded:,} purchases with COPY in {time.perf_counter() - started:.1f} s"
    )
    as_of = timezone.now().date()
    rounds = args.rounds

    plain = best_of(rounds, lambda: plain_aggregate(program))
    print(f"plain GROUP BY customer_id over the purchases (best of {rounds}): {plain:.3f} s")
    summary_box = []
    summary = best_of(rounds, lambda: summary_box.append(purchase_models.purchase_summary(program, as_of)))
    s = summary_box[-1]
    print(
        f"purchase_summary ({len(s.x):,} customers, {s.repeat_buyers:,} repeat buyers): {summary:.3f} s "
        f"({summary / plain:.2f}x)"
    )
    fits = best_of(rounds, lambda: (purchase_models.fit_bgnbd(s), purchase_models.fit_gamma_gamma(s)))
    print(f"BG/NBD + Gamma-Gamma fits on it: {fits:.3f} s ({fits / plain:.2f}x)")
    whole = best_of(rounds, lambda: purchase_models.fit_models(program, as_of))
    plain_after = best_of(rounds, lambda: plain_aggregate(program))
    print(f"plain GROUP BY again (best of {rounds}): {plain_after:.3f} s")
    plain = min(plain, plain_after)
    print(
        f"fit_models, all of it (summary, fits, backtest, {len(s.x):,} values stored): {whole:.3f} s "
        f"({whole / plain:.2f}x the plain GROUP BY)"
    )
    fit = purchase_models.get_fits(program)[0]
    test = fit.backtest
    print(f"BG/NBD (weeks): {fit.parameters}; simulated r={R}, alpha={ALPHA}, a={A}, b={B}; used {fit.usable}")
    print(
        f"backtest: predicted {test['predicted_total']}, actual {test['actual_total']}, "
        f"error {test['total_error_percent']} %, MAPE {test['mape']} %"
    )


if __name__ == "__main__":
    main()
