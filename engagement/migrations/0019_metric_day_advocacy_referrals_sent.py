"""The sent referrals per customer and day (MetricDayAdvocacy.referrals_sent): the advocacy
conversion rate is read with the CAI. Every built day is marked dirty: its rows have no sent
referrals yet (0 by the column's database default, which code from before this migration
relies on while it still runs), and a clean marker promises they do (the next build, hourly or
`manage.py build_metric_rollups`, writes them)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0018_metric_day_email_pair_prev_day"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricdayadvocacy",
            name="referrals_sent",
            field=models.BigIntegerField(default=0, db_default=0),
        ),
        migrations.RunSQL(
            "UPDATE engagement_metricday SET dirty = true WHERE NOT dirty", reverse_sql=migrations.RunSQL.noop
        ),
    ]
