"""No database FK check on the program of events and event keys (see Event.program): 2,000
deferred checks at COMMIT per 1,000-event batch, for the one program of the partner key."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("engagement", "0010_partition_events_by_month")]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="program",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="engagement.program",
            ),
        ),
        migrations.AlterField(
            model_name="eventkey",
            name="program",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="engagement.program",
            ),
        ),
    ]
