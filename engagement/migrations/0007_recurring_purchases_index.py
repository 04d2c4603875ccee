"""A covering index of recurring purchases: MRR and ARPC read them without the table."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0006_lean_transitions'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='event',
            index=models.Index(condition=models.Q(('properties__recurring', True), ('type', 'purchase')), fields=['program', 'occurred_at'], include=('customer', 'value'), name='event_recurring_purchases'),
        ),
    ]
