"""The email metrics' distinct pairs per day (MetricDayEmailPair). Every built day is marked
dirty: its pairs do not exist yet, and a clean marker promises they do (the next build,
hourly or `manage.py build_metric_rollups`, writes them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0015_metric_day_rollup"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricDayEmailPair",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("type", models.CharField(max_length=64)),
                ("message", models.TextField(null=True)),
                (
                    "customer",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="engagement.customer",
                    ),
                ),
                (
                    "program",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="engagement.program",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["program", "day"], name="metric_day_email_pair_day")],
            },
        ),
        migrations.RunSQL(
            "UPDATE engagement_metricday SET dirty = true WHERE NOT dirty", reverse_sql=migrations.RunSQL.noop
        ),
    ]
