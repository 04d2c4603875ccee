"""Campaign test helpers: events go through the real ingest and processing (the handler runs
inside engagement's processing transaction, as in production)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.processing import process_events
from rewards.campaigns.lifecycle import create_campaign

_counter = {"n": 0}


def ev(customer, type_, *, at=None, value=None, event_id=None, **properties):
    """A validated event for `customer` (a Customer), `at` defaulting to now."""
    _counter["n"] += 1
    return CleanEvent(
        event_id=event_id or f"ev-{_counter['n']}",
        type=type_,
        customer=customer.external_id,
        occurred_at=at or timezone.now(),
        value=Decimal(str(value)) if value is not None else None,
        currency="MYR" if value is not None else "",
        properties=properties,
    )


def ingest(program, events):
    """Store and process `events` now; returns the stored event ids."""
    ids = record_events(program, events, enqueue=False).event_ids
    process_events(ids)
    return ids


def make_campaign(program, kind, config=None, actions=None, *, status="active", **data):
    """An active campaign (by the real service) with `actions` [(kind, config) or dicts]."""
    action_list = []
    for action in actions or [("grant_points", {"points": 10})]:
        action_list.append(action if isinstance(action, dict) else {"kind": action[0], "config": action[1]})
    return create_campaign(
        program,
        {
            "name": data.pop("name", f"{kind} campaign"),
            "status": status,
            "trigger": {"kind": kind, "config": config or {}},
            "actions": action_list,
            **data,
        },
    )


def balance(customer):
    """Points the customer got from campaigns (the ledger also holds the base earn rule's)."""
    from django.db.models import Sum

    from rewards.models import LedgerEntry

    entries = LedgerEntry.objects.filter(customer=customer, source_type="campaign")
    return entries.aggregate(total=Sum("points"))["total"] or 0


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def carol(acme):
    from tests.factories import CustomerFactory

    return CustomerFactory(program=acme, external_id="carol", name="Carol", email="carol@example.com")
