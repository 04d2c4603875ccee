"""The CAI's inputs per customer and day (MetricDayAdvocacy). Every built day is marked
dirty: its rows do not exist yet, and a clean marker promises they do (the next build,
hourly or `manage.py build_metric_rollups`, writes them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0016_metric_day_email_pairs"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricDayAdvocacy",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("nps_at", models.DateTimeField(null=True)),
                ("nps_event", models.BigIntegerField(null=True)),
                ("nps_score", models.FloatField(null=True)),
                ("csat_at", models.DateTimeField(null=True)),
                ("csat_event", models.BigIntegerField(null=True)),
                ("csat_score", models.FloatField(null=True)),
                ("referrals", models.BigIntegerField(default=0)),
                ("shares", models.BigIntegerField(default=0)),
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
                "indexes": [models.Index(fields=["program", "day"], name="metric_day_advocacy_day")],
                "verbose_name_plural": "metric day advocacy rows",
            },
        ),
        migrations.RunSQL(
            "UPDATE engagement_metricday SET dirty = true WHERE NOT dirty", reverse_sql=migrations.RunSQL.noop
        ),
    ]
