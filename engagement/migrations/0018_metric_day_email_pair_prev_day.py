"""Each email pair row's previous day of the same pair (engagement.metrics.customer_days), so
a period's distinct pairs are counted without a hash of all of them; filled for the rows
already built."""

from django.db import migrations, models

FILL = """
UPDATE engagement_metricdayemailpair p SET prev_day = w.prev FROM (
    SELECT id, LAG(day) OVER (PARTITION BY program_id, customer_id, type, message ORDER BY day) AS prev
    FROM engagement_metricdayemailpair) w
WHERE p.id = w.id AND w.prev IS NOT NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0017_metric_day_advocacy"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricdayemailpair",
            name="prev_day",
            field=models.DateField(null=True),
        ),
        migrations.AddIndex(
            model_name="metricdayemailpair",
            index=models.Index(fields=["program", "customer", "day"], name="metric_day_email_pair_cust"),
        ),
        migrations.RunSQL(FILL, reverse_sql=migrations.RunSQL.noop),
    ]
