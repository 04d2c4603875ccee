"""The indexes of the tables that processing writes per event: each one earns its write.

Every row a grant inserts updates every index of its table; an index whose columns lead
another index of the same table (a foreign key's own index, Django's default) answers
nothing the longer one does not, and cost PostgreSQL about a tenth of a campaign batch's
writes (bench/README.md, Campaigns round 7). The other half of the contract: every foreign
key still leads an index, so deleting or erasing a parent never scans its children.
"""

import pytest
from django.db import connection

# The tables written per processed event, grant, message or webhook.
HOT_TABLES = [
    "rewards_ledgerentry",
    "rewards_pointslot",
    "campaigns_campaigneffect",
    "campaigns_actionrun",
    "campaigns_pendingtrigger",
    "webhooks_webhookevent",
    "webhooks_webhookdelivery",
    "webhooks_webhookattempt",
    "channels_message",
]

# Each index: (table, name, [column names], unique, predicate or None, access method, expression?).
INDEXES = """
    SELECT t.relname, c.relname,
           ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, pos)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.pos),
           i.indisunique, pg_get_expr(i.indpred, i.indrelid), am.amname, i.indexprs IS NOT NULL
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_am am ON am.oid = c.relam
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
"""


def _indexes(tables):
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [tables])
        return cursor.fetchall()


def _foreign_keys(tables):
    """[(table, constraint, [column names])] of the foreign keys of `tables`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.relname, k.conname,
                      ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY x(num, pos)
                            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.num ORDER BY x.pos)
               FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
               WHERE k.contype = 'f' AND n.nspname = current_schema() AND t.relname = ANY(%s)""",
            [tables],
        )
        return cursor.fetchall()


@pytest.mark.django_db
def test_no_index_of_a_hot_table_is_a_prefix_of_another():
    indexes = _indexes(HOT_TABLES)
    assert {table for table, *_ in indexes} == set(HOT_TABLES)
    redundant = []
    for table, name, columns, unique, predicate, method, expression in indexes:
        if unique or predicate or expression or method != "btree":
            continue  # a constraint, a partial or an expression index says more than its columns
        for other_table, other, other_columns, _unique, other_predicate, other_method, other_expression in indexes:
            if other_table != table or other == name or other_predicate or other_expression:
                continue
            if other_method == "btree" and other_columns[: len(columns)] == columns:
                redundant.append((table, name, other))
    assert redundant == []


@pytest.mark.django_db
def test_every_foreign_key_of_a_hot_table_leads_an_index():
    indexes = _indexes(HOT_TABLES)
    keys = _foreign_keys(HOT_TABLES)
    missing = []
    for table, constraint, columns in keys:
        # A partial index serves `column = x` when its predicate is `column IS NOT NULL`.
        serving = (None, f"({columns[0]} IS NOT NULL)")
        led = [
            name
            for t, name, cols, _unique, predicate, method, expression in indexes
            if t == table
            and method == "btree"
            and not expression
            and cols[: len(columns)] == columns
            and predicate in serving
        ]
        if not led:
            missing.append((table, constraint))
    assert missing == []
    # the keys whose own index this file's contract removed are among those checked
    checked = {(table, tuple(columns)) for table, _name, columns in keys}
    assert {
        ("rewards_ledgerentry", ("program_id",)),
        ("rewards_ledgerentry", ("customer_id",)),
        ("rewards_ledgerentry", ("actor_id",)),
        ("rewards_ledgerentry", ("redemption_id",)),
        ("campaigns_actionrun", ("effect_id",)),
        ("webhooks_webhookdelivery", ("event_id",)),
    } <= checked
