"""A database trigger that refuses any payout status move not in payouts.states.TRANSITIONS
(and any new payout not starting in pending_approval): illegal transitions are impossible
even for code that bypasses the state machine. PostgreSQL and SQLite versions."""

from django.db import migrations

# Keep in step with payouts.states.TRANSITIONS (a test compares them).
ALLOWED = [
    ("pending_approval", "queued"),
    ("pending_approval", "cancelled"),
    ("queued", "processing"),
    ("queued", "cancelled"),
    ("processing", "queued"),
    ("processing", "succeeded"),
    ("processing", "failed"),
    ("processing", "cancelled"),
    ("succeeded", "reversed"),
]
PAIRS = ", ".join(f"'{a}>{b}'" for a, b in ALLOWED)

POSTGRES = f"""
CREATE OR REPLACE FUNCTION payouts_payout_check_status() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending_approval' THEN
            RAISE EXCEPTION USING ERRCODE = '23514',
                MESSAGE = 'a payout starts in pending_approval, not ' || NEW.status;
        END IF;
    ELSIF NEW.status <> OLD.status AND (OLD.status || '>' || NEW.status) NOT IN ({PAIRS}) THEN
        RAISE EXCEPTION USING ERRCODE = '23514',
            MESSAGE = 'illegal payout transition ' || OLD.status || ' -> ' || NEW.status;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER payouts_payout_status_insert BEFORE INSERT ON payouts_payout
    FOR EACH ROW EXECUTE FUNCTION payouts_payout_check_status();
CREATE TRIGGER payouts_payout_status_update BEFORE UPDATE OF status ON payouts_payout
    FOR EACH ROW EXECUTE FUNCTION payouts_payout_check_status();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS payouts_payout_status_insert ON payouts_payout;
DROP TRIGGER IF EXISTS payouts_payout_status_update ON payouts_payout;
DROP FUNCTION IF EXISTS payouts_payout_check_status();
"""
SQLITE = [
    """CREATE TRIGGER payouts_payout_status_insert BEFORE INSERT ON payouts_payout
       WHEN NEW.status <> 'pending_approval'
       BEGIN SELECT RAISE(ABORT, 'a payout starts in pending_approval'); END""",
    f"""CREATE TRIGGER payouts_payout_status_update BEFORE UPDATE OF status ON payouts_payout
       WHEN NEW.status <> OLD.status AND (OLD.status || '>' || NEW.status) NOT IN ({PAIRS})
       BEGIN SELECT RAISE(ABORT, 'illegal payout transition'); END""",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS payouts_payout_status_insert", "DROP TRIGGER IF EXISTS payouts_payout_status_update"]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
