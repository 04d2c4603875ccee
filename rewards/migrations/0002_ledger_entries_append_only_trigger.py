"""Ledger entries are append-only in the database, not only by convention.

A row trigger refuses DELETE, and UPDATE of every column except two:
- `reason`: right to erasure scrubs personal data a partner put in a reason
  (engagement.erasure / rewards.personal_data); points, balances and keys never change;
- `actor_id`: deleting a staff user sets it NULL (on_delete=SET_NULL).
The refusal is SQLSTATE 23001 (restrict_violation), an IntegrityError in Django.

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


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
