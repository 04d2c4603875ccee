"""Event ingestion: the only writer of Event rows (and of their EventKey rows).

`record_events` takes validated events (engagement.event_schema), creates unknown customers,
inserts the batch in one statement that first claims each `(program, event_id)` in EventKey
(`ON CONFLICT DO NOTHING`) and inserts only the events whose key was new, and schedules
processing on commit. Safe to repeat: a retried batch only counts duplicates, whatever month
the events fall in (the events table is partitioned by month; the keys are not).
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.models import Customer, Event, EventKey, Program

EVENT_TABLE = Event._meta.db_table
KEY_TABLE = EventKey._meta.db_table
INSERT_COLUMNS = "program_id, customer_id, event_id, type, occurred_at, received_at, value, currency, properties"

# One statement for the batch, sent as two JSON texts: the rows' fields, and their properties
# (the JSON validation already encoded, joined as they are). PostgreSQL splits them in C:
# binding per-column arrays cost psycopg a Python call per element, more than the insert.
# The keys go in first: a key already stored (or being stored by a concurrent batch, which
# the insert waits for) returns nothing, so its event is not inserted. Event ids are unique
# within a batch (record_events drops repeats).
PG_INSERT = f"""
    WITH u AS (
        SELECT r->>0 AS e, CAST(r->>1 AS bigint) AS c, r->>2 AS t, r->>3 AS o, r->>4 AS v, r->>5 AS cur, p
        FROM ROWS FROM (jsonb_array_elements(CAST(%s AS jsonb)), jsonb_array_elements(CAST(%s AS jsonb))) AS u(r, p)
    ), fresh AS (
        INSERT INTO {KEY_TABLE} (program_id, event_id) SELECT %s, e FROM u
        ON CONFLICT DO NOTHING
        RETURNING event_id
    )
    INSERT INTO {EVENT_TABLE} ({INSERT_COLUMNS})
    SELECT %s, c, u.e, t, CAST(o AS timestamptz), %s, CAST(v AS numeric), cur, p
    FROM u JOIN fresh ON fresh.event_id = u.e
    RETURNING id, customer_id
"""


@dataclass
class IngestResult:
    accepted: int
    duplicates: int
    event_ids: list[int]


CUSTOMER_TABLE = Customer._meta.db_table
# New customers from events get empty profiles; literal defaults because Django's are Python-side.
PG_NEW_CUSTOMERS = f"""
    INSERT INTO {CUSTOMER_TABLE} (program_id, external_id, name, email, phone, locale, timezone, attributes,
        consent_email, consent_sms, consent_whatsapp, consent_push, tier, event_count, purchase_count, revenue,
        created_at, updated_at)
    SELECT %s, ext, '', '', '', '', '', '{{}}'::jsonb, false, false, false, false, '', 0, 0, 0, %s, %s
    FROM unnest(%b::text[]) AS u(ext)
    ON CONFLICT (program_id, external_id) DO NOTHING
"""
PG_FIND_CUSTOMERS = f"SELECT external_id, id FROM {CUSTOMER_TABLE} WHERE program_id = %s AND external_id = ANY(%b)"


def server_side_cursor() -> Any:
    """A psycopg cursor with server-side parameter binding on Django's connection (and its
    transaction). Django's default client-side binding quotes every array element in Python,
    which cost more than the insert itself for a 1,000-event batch."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def resolve_customers(program: Program, external_ids: Iterable[str]) -> dict[str, int]:
    """Map external ids to customer ids, creating the unknown ones (race-safe)."""
    wanted = sorted(set(external_ids))
    # One array parameter instead of a thousand, bound server-side (see server_side_cursor).
    with server_side_cursor() as cursor:
        cursor.execute(PG_FIND_CUSTOMERS, [program.pk, wanted])
        found = dict(cursor.fetchall())
        missing = [ext for ext in wanted if ext not in found]
        if missing:
            # ON CONFLICT: a concurrent batch may create the same customer first.
            now = timezone.now()
            cursor.execute(PG_NEW_CUSTOMERS, [program.pk, now, now, missing])
            cursor.execute(PG_FIND_CUSTOMERS, [program.pk, missing])
            found.update(cursor.fetchall())
    return found


def _insert_events(
    program: Program, events: Sequence[CleanEvent], customers: dict[str, int], now: datetime
) -> list[tuple[int, int]]:
    """Insert the events not stored yet; returns (event id, customer id) of each inserted."""
    # Times and amounts travel as text and are cast by the server: adapting thousands of
    # datetime/Decimal objects client-side cost more than the insert itself.
    fields = orjson.dumps(
        [
            (e.event_id, customers[e.customer], e.type, e.occurred_at.isoformat(), _text(e.value), e.currency)
            for e in events
        ]
    ).decode()
    properties = (
        "[" + ",".join(e.properties_json or json.dumps(e.properties, separators=(",", ":")) for e in events) + "]"
    )
    # A customer gone since the lookup fails the statement (migration 0014's trigger, which
    # locks the batch's customers): raised as Django's IntegrityError, as the FK's was.
    with connection.wrap_database_errors, server_side_cursor() as cursor:
        cursor.execute(PG_INSERT, [fields, properties, program.pk, program.pk, now])
        return cursor.fetchall()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def record_events(program: Program, events: Sequence[CleanEvent], enqueue: bool = True) -> IngestResult:
    """Store validated events for `program`; return IngestResult(accepted, duplicates, ids).

    One transaction: customers created and events inserted together or not at all.
    Duplicates (an event_id already stored, or repeated within the batch) are counted,
    not errors. Processing is enqueued on commit (engagement.processing.enqueue_processing).
    """
    unique, seen = [], set()
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    now = timezone.now()
    with transaction.atomic():
        customers = resolve_customers(program, [event.customer for event in unique])
        rows = _insert_events(program, unique, customers, now) if unique else []
        if rows:
            # After the insert, same transaction: engagement.metrics.rollup's protocol.
            from engagement.metrics import rollup  # here: engagement.metrics imports this module

            rollup.mark_days_dirty(program.pk, rollup.utc_days(e.occurred_at for e in unique))
        event_ids = [event_id for event_id, _ in rows]
        if enqueue and rows:
            from engagement.processing import enqueue_processing

            # Routed by customer (settings.INGEST_SHARDS): see enqueue_processing.
            transaction.on_commit(lambda: enqueue_processing(rows))
    return IngestResult(accepted=len(event_ids), duplicates=len(events) - len(event_ids), event_ids=event_ids)


def record_platform_event(
    program: Program,
    customer: Customer,
    event_type: str,
    event_id: str,
    occurred_at: datetime | None = None,
    value: Decimal | None = None,
    properties: dict[str, Any] | None = None,
) -> IngestResult:
    """Record an event the platform itself observed (survey_answered, tier_changed...).

    For lower apps telling higher ones something happened (DESIGN.md). Idempotent by
    `event_id`; joins the caller's transaction; processing is enqueued on commit.
    """
    event = CleanEvent(
        event_id=event_id,
        type=event_type,
        customer=customer.external_id,
        occurred_at=occurred_at or timezone.now(),
        value=value,
        currency=program.currency if value is not None else "",
        properties=properties or {},
    )
    return record_events(program, [event])
