"""A database trigger that refuses any payout status move not in payouts.states.TRANSITIONS
(and any new payout not starting in pending_approval): illegal transitions are impossible
even for code that bypasses the state machine."""

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


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]
    operations = [migrations.RunSQL(POSTGRES, POSTGRES_DROP)]
