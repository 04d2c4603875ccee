"""The customer of events is checked once per INSERT statement instead of once per row.

The foreign key's check ran at COMMIT once per event (a query and a FOR KEY SHARE lock each,
a sixth of the ingest's database time). The triggers below keep the same guarantee set-wise:
every customer an inserted event names exists, locked FOR KEY SHARE until the transaction
ends (as the foreign key's check locks it), and a customer still named by events cannot be
deleted (deleting waits for that lock, then sees the events committed meanwhile).
"""

import django.db.models.deletion
from django.db import migrations, models

VIOLATION = """
        RAISE foreign_key_violation USING
            MESSAGE = 'insert or update on table "engagement_event" violates foreign key constraint "event_customer_exists"',
            DETAIL = format('Key (customer_id)=(%s) is not present in table "engagement_customer".', {key});
"""

FORWARD = f"""
CREATE FUNCTION engagement_event_customers_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint[] := ARRAY(SELECT DISTINCT customer_id FROM new_rows);
    found bigint[];
BEGIN
    -- One locking read for the statement's customers (an array probe of the primary key).
    found := ARRAY(SELECT c.id FROM engagement_customer c WHERE c.id = ANY(wanted) FOR KEY SHARE OF c);
    IF cardinality(found) <> cardinality(wanted) THEN
        {VIOLATION.format(key="(SELECT min(w) FROM unnest(wanted) w WHERE w <> ALL(found))")}
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER event_customers_exist AFTER INSERT ON engagement_event
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_event_customers_exist();

-- Nothing moves an event to another customer; should anything, it is checked row by row.
CREATE FUNCTION engagement_event_customer_exists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM engagement_customer c WHERE c.id = NEW.customer_id FOR KEY SHARE OF c;
    IF NOT FOUND THEN
        {VIOLATION.format(key="NEW.customer_id")}
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER event_customer_exists AFTER UPDATE OF customer_id ON engagement_event
    FOR EACH ROW WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION engagement_event_customer_exists();

-- The referenced side (the foreign key's NO ACTION): the ORM deletes a customer's events first.
CREATE FUNCTION engagement_customer_events_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named bigint;
BEGIN
    SELECT e.customer_id INTO named FROM engagement_event e
    WHERE e.customer_id = ANY(ARRAY(SELECT id FROM old_rows)) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'update or delete on table "engagement_customer" violates foreign key constraint '
                '"event_customer_exists" on table "engagement_event"',
            DETAIL = format('Key (id)=(%s) is still referenced from table "engagement_event".', named);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customer_events_gone AFTER DELETE ON engagement_customer
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION engagement_customer_events_gone();
"""

BACKWARD = """
DROP TRIGGER customer_events_gone ON engagement_customer;
DROP FUNCTION engagement_customer_events_gone();
DROP TRIGGER event_customer_exists ON engagement_event;
DROP FUNCTION engagement_event_customer_exists();
DROP TRIGGER event_customers_exist ON engagement_event;
DROP FUNCTION engagement_event_customers_exist();
"""


class Migration(migrations.Migration):
    dependencies = [("engagement", "0013_event_retention")]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="engagement.customer",
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
