"""The score history (CustomerScoreSnapshot), written only when a customer's state changes.

A customer's scores on a scored day (ScoreSnapshotDay) are those of their latest snapshot row
on or before that day. Each row holds the state a pass computed (engagement score, R/F/M,
segment, monetary, last event, churn divisor); the churn risk of a day follows from the last
event and the divisor as of that day's pass, by the formula the scoring pass itself uses
(engagement.scoring.sql.churn_sql), so the figures are exactly those a row per customer per
day would hold. A nightly pass, which moves most churn risks but few states, then writes the
rows of the customers whose state changed instead of one per customer.

Why the stored score rows tell which states changed: every live pass (a re-score now) writes
the day's row of each customer whose new state differs from their stored score row, in the
statement that rewrites that score row. So after a live pass, a customer's latest snapshot
row holds the state of their stored score row. A rebuilt past day (`snapshot_scores`) breaks
that only when it becomes the program's latest scored day: the next live pass then writes
every customer's row. A rebuilt day also copies each customer's state before the rebuild to
the next scored day (where they have no row there yet), so that later days keep their figures.
"""

from django.db import connection

from engagement.models import CustomerScoreSnapshot, ScoreSnapshotDay
from engagement.scoring.sql import SNAPSHOT_COLUMNS, SNAPSHOTS, churn_sql, ts

DAYS = ScoreSnapshotDay._meta.db_table


def snapshot_mode(cursor, params):
    """(first pass of the day: no row of the day at all, every customer to be written: the
    program's latest scored day up to this one was a rebuilt one). Under the program's scoring
    lock nobody else writes these rows between this check and the writes."""
    cursor.execute(
        f"""SELECT NOT EXISTS (SELECT 1 FROM {DAYS} WHERE program_id = %(program)s AND date = %(day)s)
                AND NOT EXISTS (SELECT 1 FROM {SNAPSHOTS} WHERE program_id = %(program)s AND date = %(day)s),
            COALESCE((SELECT NOT live FROM {DAYS} WHERE program_id = %(program)s AND date <= %(day)s
                      ORDER BY date DESC LIMIT 1), FALSE)""",
        params,
    )
    return cursor.fetchone()


def record_day(cursor, params, *, live):
    """The day was scored, its last pass as of %(as_of)s."""
    cursor.execute(
        f"""INSERT INTO {DAYS} (program_id, date, as_of, live) VALUES (%(program)s, %(day)s, {ts("as_of")}, %(live)s)
            ON CONFLICT (program_id, date) DO UPDATE SET as_of = excluded.as_of, live = excluded.live""",
        {**params, "live": live},
    )


def carry_to_next_day(cursor, params):
    """Before a past day is rebuilt: each customer's state on the next scored day (their latest
    row up to the rebuilt day) is copied to that day where they have no row of it."""
    columns = ", ".join(SNAPSHOT_COLUMNS)
    cursor.execute(
        f"""INSERT INTO {SNAPSHOTS} (program_id, customer_id, date, {columns})
            SELECT DISTINCT ON (p.customer_id) p.program_id, p.customer_id, d.date, {", ".join(f"p.{c}" for c in SNAPSHOT_COLUMNS)}
            FROM {SNAPSHOTS} p,
                 (SELECT MIN(date) AS date FROM {DAYS} WHERE program_id = %(program)s AND date > %(day)s) d
            WHERE p.program_id = %(program)s AND p.date <= %(day)s AND d.date IS NOT NULL
            ORDER BY p.customer_id, p.date DESC
            ON CONFLICT (customer_id, date) DO NOTHING""",
        params,
    )


def score_history(customer, days):
    """The customer's scores on each of the last `days` days that have them (the program's
    scored days since their first snapshot, and the days of their own rows), oldest first:
    unsaved CustomerScoreSnapshot objects (date, engagement_score, r/f/m_score, segment,
    churn_risk, monetary)."""
    fields = ["engagement_score", "r_score", "f_score", "m_score", "segment", "monetary"]
    # A day's pass instant, where known: the risk follows from the row's state as of then; a row
    # written before the state was kept (no divisor), or a day without a recorded pass, keeps its own.
    churn = f"""CASE WHEN p.churn_divisor IS NULL OR d.as_of IS NULL THEN p.churn_risk
        ELSE {churn_sql("p.churn_divisor", "p.last_event_at", "d.as_of")} END"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT d.date, {", ".join(f"p.{f}" for f in fields)}, {churn}
                FROM (SELECT date, MAX(as_of) AS as_of FROM (
                        SELECT date, as_of FROM {DAYS} WHERE program_id = %(program)s
                        UNION ALL SELECT date, NULL FROM {SNAPSHOTS} WHERE customer_id = %(customer)s) u
                      WHERE date >= (SELECT MIN(date) FROM {SNAPSHOTS} WHERE customer_id = %(customer)s)
                      GROUP BY date ORDER BY date DESC LIMIT %(days)s) d
                CROSS JOIN LATERAL (
                    SELECT * FROM {SNAPSHOTS} s WHERE s.customer_id = %(customer)s AND s.date <= d.date
                    ORDER BY s.date DESC LIMIT 1) p
                ORDER BY d.date""",
            {"program": customer.program_id, "customer": customer.pk, "days": days},
        )
        rows = cursor.fetchall()
    history = []
    for date, *values, churn_risk in rows:
        snapshot = CustomerScoreSnapshot(program_id=customer.program_id, customer=customer, date=date)
        for field, value in zip(fields, values, strict=True):
            setattr(snapshot, field, value)
        snapshot.churn_risk = churn_risk
        history.append(snapshot)
    return history
