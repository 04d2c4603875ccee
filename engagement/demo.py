"""Demo data for the base: the program `acme`, ~1,000 customers and ~50,000 events over the
last 180 days covering every catalogue type. Deterministic (seeded) and idempotent: event
ids are fixed, and a second run finds the last one and sends none."""

import os
import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer, Event, Program

# Smaller values make a quick demo (tests/test_deploy_and_demo.py uses them).
CUSTOMERS = int(os.environ.get("GANJARAN_DEMO_CUSTOMERS", 1000))
EVENTS = int(os.environ.get("GANJARAN_DEMO_EVENTS", 50_000))
DAYS = 180
BATCH = 5000  # events per ingest call: fewer processing passes, each one set-based
NETWORKS = ["facebook", "instagram", "x", "tiktok"]
PAGES = ["/", "/shop", "/shop/kopi", "/rewards", "/help", "/checkout"]
FIRST_NAMES = [
    "Aisyah",
    "Ahmad",
    "Siti",
    "Hafiz",
    "Nurul",
    "Omar",
    "Layla",
    "Mei Ling",
    "Ravi",
    "Farah",
    "Zain",
    "Hana",
    "Karim",
    "Amina",
    "Daniel",
    "Priya",
    "Yusuf",
    "Sofia",
    "Tan",
    "Nadia",
]
LOCALES = ["en", "en", "ms", "ms", "ar"]

# type -> relative weight in the demo stream
MIX = {
    "page_view": 30,
    "session": 12,
    "email_sent": 8,
    "email_opened": 5,
    "email_clicked": 2,
    "email_bounced": 0.5,
    "email_converted": 0.5,
    "email_unsubscribed": 0.2,
    "purchase": 9,
    "refund": 0.4,
    "cart_updated": 4,
    "cart_abandoned": 1.5,
    "social_like": 6,
    "social_share": 2,
    "social_comment": 1.5,
    "social_click": 2,
    "event_registered": 1,
    "event_attended": 0.7,
    "event_interaction": 0.8,
    "ticket_opened": 0.8,
    "ticket_resolved": 0.6,
    "referral_sent": 0.6,
    "referral_converted": 0.2,
    "app_installed": 0.5,
    "app_uninstalled": 0.1,
    "custom.wishlist_added": 1,
}


def get_or_create_program():
    program, _ = Program.objects.get_or_create(
        slug="acme",
        defaults={
            "name": "Acme Kopi Rewards",
            "currency": "MYR",
            "timezone": "Asia/Kuala_Lumpur",
            "points_name": "beans",
            "default_locale": "en",
        },
    )
    return program


def ensure_customers(program):
    existing = set(Customer.objects.filter(program=program).values_list("external_id", flat=True))
    rng = random.Random(7)
    now = timezone.now()
    new = []
    for n in range(CUSTOMERS):
        external_id = f"cust-{n:04d}"
        first = rng.choice(FIRST_NAMES)
        if external_id in existing:
            continue
        new.append(
            Customer(
                program=program,
                external_id=external_id,
                name=f"{first} {chr(65 + n % 26)}.",
                email=f"{external_id}@example.com",
                phone=f"+6012{n:07d}",
                locale=rng.choice(LOCALES),
                consent_email=rng.random() < 0.9,
                consent_sms=rng.random() < 0.5,
                consent_whatsapp=rng.random() < 0.4,
                consent_push=rng.random() < 0.3,
                created_at=now - timedelta(days=rng.randint(DAYS, DAYS + 400)),
                birth_date=now.date().replace(year=1970 + n % 35) - timedelta(days=n % 360),
            )
        )
    Customer.objects.bulk_create(new)
    return Customer.objects.filter(program=program).count()


def _properties(rng, type_, n, customer_count):
    if type_ == "page_view":
        return {"url": rng.choice(PAGES)}
    if type_ == "session":
        views = rng.choice([1, 1, 2, 3, 4, 6])
        return {"duration_seconds": rng.randint(5, 900), "page_views": views, "exit_page": rng.choice(PAGES)}
    if type_.startswith("social_"):
        return {"network": rng.choice(NETWORKS)}
    if type_.startswith("email_"):
        return {"message_id": f"newsletter-{n % 12}"}
    if type_ in ("purchase", "refund"):
        props = {"order_id": f"order-{n}"}
        if type_ == "purchase" and rng.random() < 0.15:
            props["recurring"] = True
        return props
    if type_.startswith("event_"):
        return {"event_name": rng.choice(["Kopi Fest", "Barista Live", "Ramadan Bazaar"])}
    if type_.startswith("ticket_"):
        return {"ticket_id": f"T-{n % 3000}"}
    if type_.startswith("referral_"):
        return {"referred_customer": f"cust-{rng.randrange(customer_count):04d}"}
    return {}


def generate_events(rng, now, customer_count):
    """Yield EVENTS deterministic CleanEvents; busier customers (a Pareto-ish spread) buy more."""
    types, weights = zip(*MIX.items())
    for n in range(EVENTS):
        type_ = rng.choices(types, weights)[0]
        customer = int(customer_count * (rng.random() ** 1.8))
        occurred = now - timedelta(seconds=rng.randrange(DAYS * 86400))
        value = None
        if type_ in ("purchase", "refund"):
            value = Decimal(rng.randrange(800, 25000)) / 100
        yield CleanEvent(
            event_id=f"demo-{n:06d}",
            type=type_,
            customer=f"cust-{customer:04d}",
            occurred_at=occurred,
            value=value,
            currency="MYR" if value is not None else "",
            properties=_properties(rng, type_, n, customer_count),
        )


def load_events(program, progress):
    if Event.objects.filter(program=program, event_id=f"demo-{EVENTS - 1:06d}").exists():
        return 0  # an earlier run loaded them (fixed ids): sending them again would only count duplicates
    rng = random.Random(42)
    # Anchor "now" to the day so reruns on the same day produce the same event times.
    now = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    batch, accepted = [], 0
    with progress(total=EVENTS, desc="events", unit="ev") as bar:
        # The demo's own customers, never the current count: other steps add customers
        # (e.g. referrals), and events of cust-1000… would create nameless ones on a rerun.
        for event in generate_events(rng, now, CUSTOMERS):
            batch.append(event)
            if len(batch) == BATCH:
                accepted += record_events(program, batch).accepted
                bar.update(len(batch))
                batch = []
        if batch:
            accepted += record_events(program, batch).accepted
            bar.update(len(batch))
    return accepted


def load_base(program, progress):
    ensure_customers(program)
    return load_events(program, progress)
