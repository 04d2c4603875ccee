"""Monthly partitions of the events table (docs/architecture.md, "Events storage").

`engagement_event` is partitioned by RANGE of `occurred_at`, one partition per calendar
month in UTC (`engagement_event_y2026m01` holds [2026-01-01, 2026-02-01)), plus
`engagement_event_default`, which takes any row no monthly partition covers so that an
insert never fails for want of a partition. `ensure_event_partitions` (the hourly beat task
engagement.tasks.ensure_event_partitions_task) creates the partitions from the current month
to EVENT_PARTITION_MONTHS_AHEAD months ahead and moves the rows of the default partition (a
history imported from before the first partition) into partitions of their own months.

Plain SQL on table names, no models: migration 0010 uses it too.
"""

from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

PARENT = "engagement_event"
DEFAULT = f"{PARENT}_default"
# A partition's creation waits at most this long for the default partition's lock (ingest
# holds it briefly): the next beat run tries again rather than queueing inserts behind it.
LOCK_TIMEOUT = "5s"


def month_start(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def _bound(month: date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


def existing_partitions(cursor) -> set[str]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [PARENT],
    )
    return {row[0] for row in cursor.fetchall()}


def create_default_partition(cursor) -> None:
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {DEFAULT} PARTITION OF {PARENT} DEFAULT")


def create_month_partition(cursor, month: date) -> None:
    """Create the partition of `month`, moving its rows out of the default partition.

    Built as a plain table and then attached, rather than `CREATE TABLE … PARTITION OF`, which
    would lock the whole events table: ATTACH locks the parent only against schema changes
    (inserts go on) and the default partition while it is checked. Run inside a transaction.
    """
    name, start, end = partition_name(month), _bound(month), _bound(add_months(month, 1))
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    # Lets ATTACH skip scanning the new table for rows outside the range.
    cursor.execute(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (occurred_at >= '{start}' AND occurred_at < '{end}')"
    )
    cursor.execute(
        f"WITH moved AS (DELETE FROM {DEFAULT} WHERE occurred_at >= '{start}' AND occurred_at < '{end}' "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")


def months_in_default(cursor) -> list[date]:
    cursor.execute(
        f"SELECT DISTINCT CAST(date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS date) FROM {DEFAULT} ORDER BY 1"
    )
    return [row[0] for row in cursor.fetchall()]


def ensure_event_partitions(now: datetime | None = None, ahead: int | None = None) -> list[str]:
    """Create the missing partitions; return the names created (idempotent).

    The months from the current one (UTC) to `ahead` months later (EVENT_PARTITION_MONTHS_AHEAD),
    and the month of every row found in the default partition, each in its own transaction
    so one lock timeout does not undo the others (it raises; the next run completes the rest).
    """
    now = now or timezone.now()
    ahead = settings.EVENT_PARTITION_MONTHS_AHEAD if ahead is None else ahead
    current = month_start(now)
    with connection.cursor() as cursor:
        create_default_partition(cursor)
        present = existing_partitions(cursor)
        wanted = {add_months(current, n) for n in range(ahead + 1)} | set(months_in_default(cursor))
    created = []
    for month in sorted(wanted):
        if partition_name(month) in present:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            create_month_partition(cursor, month)
        created.append(partition_name(month))
    return created
