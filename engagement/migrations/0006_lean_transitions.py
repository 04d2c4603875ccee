"""ScoreTransition: no database-level FK constraints and no index of its own on program.

A first re-score inserts three transitions per customer; each constrained row cost two checks
at COMMIT. (program, kind, occurred_at) already serves lookups by program. See the model.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engagement', '0005_scoring_reuse'),
    ]

    operations = [
        migrations.AlterField(
            model_name='scoretransition',
            name='customer',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='score_transitions', to='engagement.customer'),
        ),
        migrations.AlterField(
            model_name='scoretransition',
            name='program',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='engagement.program'),
        ),
    ]
