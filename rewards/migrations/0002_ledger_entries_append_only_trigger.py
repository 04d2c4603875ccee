"""Ledger entries are append-only in the database, not only by convention.

A row trigger refuses DELETE, and UPDATE of every column except two:
- `reason`: right to erasure scrubs personal data a partner put in a reason
  (engagement.erasure / rewards.personal_data); points, balances and keys never change;
- `actor_id`: deleting a staff user sets it NULL (on_delete=SET_NULL).
The refusal is SQLSTATE 23001 (restrict_violation), an IntegrityError in Django. The
embedded demo's SQLite gets the same rule (RAISE(ABORT)), as payouts' status trigger does.

A DBA who must purge a whole program (offboarding a tenant) does it in one transaction
after `SET LOCAL ganjaran.ledger_purge = 'on'`; no application code sets it.
"""

from django.db import migrations

PROTECTED = [
    "id",
    "program_id",
    "account_id",
    "customer_id",
    "kind",
    "points",
    "pending_points",
    "balance_after",
    "actor_label",
    "source_type",
    "source_id",
    "idempotency_key",
    "redemption_id",
    "expires_at",
    "pending_until",
    "created_at",
]
OLD = ", ".join(f"OLD.{column}" for column in PROTECTED)
NEW = ", ".join(f"NEW.{column}" for column in PROTECTED)

CREATE = f"""
CREATE FUNCTION rewards_ledger_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF coalesce(current_setting('ganjaran.ledger_purge', true), '') = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'ledger entries are append-only: DELETE of entry % refused', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF ROW({NEW}) IS DISTINCT FROM ROW({OLD}) THEN
        RAISE EXCEPTION 'ledger entries are append-only: UPDATE of entry % refused (only reason may change)', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER rewards_ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON rewards_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION rewards_ledger_entry_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS rewards_ledger_entry_append_only ON rewards_ledgerentry;
DROP FUNCTION IF EXISTS rewards_ledger_entry_append_only();
"""


CHANGED = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in PROTECTED)
SQLITE = [
    """CREATE TRIGGER rewards_ledger_entry_no_delete BEFORE DELETE ON rewards_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE refused'); END""",
    f"""CREATE TRIGGER rewards_ledger_entry_no_update BEFORE UPDATE ON rewards_ledgerentry
       WHEN {CHANGED}
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE refused'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS rewards_ledger_entry_no_delete",
    "DROP TRIGGER IF EXISTS rewards_ledger_entry_no_update",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no placeholders: RAISE uses %
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
    ]

    # RunPython rather than RunSQL only to pick the dialect (PostgreSQL in production and
    # tests, SQLite for the embedded demo); the statements are the SQL above.
    operations = [migrations.RunPython(install, uninstall)]
