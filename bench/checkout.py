"""Checkout benchmark: cart evaluation and reserve/confirm through the real API (gunicorn +
PostgreSQL) against a trivial authenticated endpoint (GET /customers/{id}) in the same run.

Run on throwaway servers:   scripts/services.sh run .venv/bin/python bench/checkout.py
Seeds (once; reruns reuse it) a program with --customers customers (the first 2,000 with
100,000 points each), 20 earning rules and 50 active promotions with a code each. Then, per
round, --requests requests of each mix over --connections keep-alive connections: the
baseline, evaluate (3-6 lines, a code in half the carts), and reserve + confirm (one new
order each). Prints p50/p99 latency and requests/s per mix and the ratios to the baseline;
the last line is the median over the rounds. Gunicorn listens on --port (8160 by default),
with --workers processes of --threads threads (gthread, keep-alive: what `make serve` runs).
"""

import argparse
import random
import secrets
import sys
from decimal import Decimal
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import django_setup, gunicorn, load  # noqa: E402

django_setup()

from django.core.management import call_command  # noqa: E402

from engagement.models import Customer, PartnerKey, Program  # noqa: E402
from rewards import ledger  # noqa: E402
from rewards.checkout.models import EarningRule, Promotion, PromotionCode  # noqa: E402

FUNDED = 2_000
CATEGORIES = [f"cat-{i}" for i in range(10)]


def seed(customers):
    program, _created = Program.objects.get_or_create(slug="bench-checkout", defaults={"name": "Bench checkout"})
    have = Customer.objects.filter(program=program).count()
    for start in range(have, customers, 10_000):
        Customer.objects.bulk_create(
            Customer(program=program, external_id=f"c-{i}") for i in range(start, min(customers, start + 10_000))
        )
    funded = list(Customer.objects.filter(program=program).order_by("pk")[:FUNDED])
    for start in range(0, len(funded), 2000):
        grants = [ledger.Grant(c, 100_000, "bench", f"bench:{c.pk}") for c in funded[start : start + 2000]]
        ledger.bulk_grant(program, grants)
    for i in range(20):
        target, value = ("category", CATEGORIES[i]) if i < 10 else ("sku", f"SKU-{i}")
        EarningRule.objects.get_or_create(
            program=program, target=target, value=value,
            defaults={"name": f"rule {i}", "multiplier": Decimal("1.5"), "excluded": i == 19},
        )  # fmt: skip
    for i in range(50):
        promotion, _created = Promotion.objects.get_or_create(
            program=program, name=f"promo {i}",
            defaults={"title_en": f"Promo {i}", "value": Decimal(5 + i % 20), "stackable": True,
                      "eligible_categories": [CATEGORIES[i % 10]] if i % 2 else []},
        )  # fmt: skip
        PromotionCode.objects.get_or_create(
            program=program, code=f"PROMO{i}", defaults={"promotion": promotion, "max_uses": 0}
        )
    key, raw = PartnerKey.issue(program, f"bench-{secrets.token_hex(3)}")
    return program, raw, [c.external_id for c in funded]


def cart(rng, customer):
    lines = [
        {"sku": f"SKU-{rng.randrange(40)}", "category": rng.choice(CATEGORIES), "quantity": rng.randint(1, 3),
         "unit_price": f"{rng.randint(100, 9999) / 100:.2f}"}
        for _ in range(rng.randint(3, 6))
    ]  # fmt: skip
    codes = [f"PROMO{rng.randrange(50)}"] if rng.random() < 0.5 else []
    return {"customer": customer, "currency": "MYR", "lines": lines, "codes": codes}


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000, help="per mix and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per worker (> 1: gthread with keep-alive, as make serve runs)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8160)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    program, key, funded = seed(args.customers)
    headers = {"Authorization": f"Bearer {key}"}
    rng = random.Random(20261204)
    results = {"baseline": [], "evaluate": [], "reserve+confirm": []}
    with gunicorn(args.port, args.workers, args.threads):
        # Warm up every worker (imports, connections) before anything is timed.
        load(args.port, [[("GET", f"/api/v1/customers/{funded[0]}", None)]] * 64, args.connections, headers=headers)
        for round_no in range(args.rounds):
            mixes = {
                "baseline": [[("GET", f"/api/v1/customers/{rng.choice(funded)}", None)]
                             for _ in range(args.requests)],
                "evaluate": [[("POST", "/api/v1/checkout/evaluate", cart(rng, rng.choice(funded)))]
                             for _ in range(args.requests)],
                "reserve+confirm": [
                    [("POST", "/api/v1/checkout/reservations",
                      {**cart(rng, rng.choice(funded)), "order_id": f"r{round_no}-{secrets.token_hex(6)}",
                       "points": 100 * rng.randint(1, 5), "codes": []}),
                     ("POST", lambda answer: f"/api/v1/checkout/reservations/{answer['id']}/confirm", None)]
                    for _ in range(args.requests // 2)
                ],
            }  # fmt: skip
            for name, jobs in mixes.items():
                latencies, elapsed = load(args.port, jobs, args.connections, headers=headers)
                results[name].append((pct(latencies, 0.5), pct(latencies, 0.99), len(latencies) / elapsed))
                p50, p99, rate = results[name][-1]
                print(f"round {round_no + 1} {name:16} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {rate:7.0f} req/s")
    base = [r[2] for r in results["baseline"]]
    for name, rows in results.items():
        p50, p99, rate = (median(r[i] for r in rows) for i in range(3))
        ratio = median(r[2] / b for r, b in zip(rows, base, strict=True))
        print(
            f"median {name:16} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  {rate:7.0f} req/s  ({ratio:.2f} x baseline req/s)"
        )


if __name__ == "__main__":
    main()
