"""Re-scores reuse stored values: CustomerScore.weights_key, and a covering index of purchases.

weights_key (0 for existing rows, so each is read from the events once more) tells which
weights and half-life a stored raw score was computed with. event_purchases lets a re-score
read every purchase of the RFM lookback from the index alone.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0004_customerscore_fillfactor'),
    ]

    operations = [
        migrations.AddField(
            model_name='customerscore',
            name='weights_key',
            field=models.IntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('type', 'purchase')), fields=['program', 'occurred_at'], include=('customer', 'value'), name='event_purchases'),
        ),
    ]
