"""Events partitioned by month of occurred_at; deduplication moved to EventKey.

The existing table is renamed, a partitioned table of the same columns is created with a
partition for every month that has rows, the current month and EVENT_PARTITION_MONTHS_AHEAD
ahead, and a default partition; the rows are copied (ids kept, the identity sequence moved
on past them) and the old table dropped. The database primary key becomes (id, occurred_at)
(PostgreSQL wants the partition key in every unique key); Django keeps `id` as the model's
primary key. The unique (program, event_id) becomes the EventKey table, filled from the
events. The single-column foreign key indexes are not recreated: the (program, type,
occurred_at) and (customer, occurred_at) indexes lead with the same columns.

Irreversible: going back would need every event_id unique again in one table, which holds
but is not worth a second copy of the events in reverse.
"""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from engagement import partitions

OLD = "engagement_event_unpartitioned"


def partition_events(apps, schema_editor):
    Event = apps.get_model("engagement", "Event")
    parent = partitions.PARENT
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO engagement_eventkey (program_id, event_id) SELECT program_id, event_id FROM {parent}"
        )
        cursor.execute(f"SELECT pg_get_serial_sequence('{parent}', 'id')")
        (old_sequence,) = cursor.fetchone()
        cursor.execute(f"ALTER TABLE {parent} RENAME TO {OLD}")
        cursor.execute(
            f"CREATE TABLE {parent} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY) PARTITION BY RANGE (occurred_at)"
        )
        partitions.create_default_partition(cursor)
        cursor.execute(f"SELECT DISTINCT CAST(date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS date) FROM {OLD}")
        current = partitions.month_start(timezone.now())
        months = {row[0] for row in cursor.fetchall()}
        months |= {partitions.add_months(current, n) for n in range(settings.EVENT_PARTITION_MONTHS_AHEAD + 1)}
        for month in sorted(months):
            # The table is not in use yet: the plain form is fine here.
            cursor.execute(
                f"CREATE TABLE {partitions.partition_name(month)} PARTITION OF {parent} FOR VALUES "
                f"FROM ('{partitions._bound(month)}') TO ('{partitions._bound(partitions.add_months(month, 1))}')"
            )
        cursor.execute(f"INSERT INTO {parent} SELECT * FROM {OLD}")
        cursor.execute(f"SELECT pg_get_serial_sequence('{parent}', 'id')")
        (new_sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT setval('{new_sequence}', COALESCE(MAX(id), 0) + 1, false) FROM {parent}")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {old_sequence.split('.')[-1]}")
        cursor.execute(f"ALTER TABLE {parent} ADD CONSTRAINT {parent}_pkey PRIMARY KEY (id, occurred_at)")
    for name in ("program", "customer"):
        field = Event._meta.get_field(name)
        schema_editor.execute(schema_editor._create_fk_sql(Event, field, "_fk_%(to_table)s_%(to_column)s"))
    for constraint in Event._meta.constraints:
        if isinstance(constraint, models.CheckConstraint):
            schema_editor.add_constraint(Event, constraint)
    for index in Event._meta.indexes:
        schema_editor.add_index(Event, index)


class Migration(migrations.Migration):
    dependencies = [("engagement", "0009_merge_purchase_models")]

    operations = [
        migrations.CreateModel(
            name="EventKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "program_id", "event_id", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("event_id", models.CharField(max_length=128)),
                (
                    "program",
                    models.ForeignKey(
                        db_index=False, on_delete=models.deletion.CASCADE, related_name="+", to="engagement.program"
                    ),
                ),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="event", name="event_id_unique_per_program"),
                migrations.AlterField(
                    model_name="event",
                    name="program",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="events",
                        to="engagement.program",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="customer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.CASCADE,
                        related_name="events",
                        to="engagement.customer",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition_events)],
        ),
    ]
