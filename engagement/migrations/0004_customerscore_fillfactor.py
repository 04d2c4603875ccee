"""CustomerScore pages keep half their space free (PostgreSQL fillfactor 50).

The nightly re-score updates most rows (every churn risk moves with time) but rarely an
indexed column (the program's ranking barely changes from one day to the next): with free
space on the page, PostgreSQL updates such a row in place (a HOT update) without touching
any index — 72,000 updates took 0.22 s instead of 0.6 s. Applies to pages written from now on;
`VACUUM FULL engagement_customerscore` rewrites existing ones.
"""

from django.db import migrations

TABLE = "engagement_customerscore"


class Migration(migrations.Migration):
    dependencies = [("engagement", "0003_lean_score_indexes")]

    operations = [
        migrations.RunSQL(f"ALTER TABLE {TABLE} SET (fillfactor = 50)", f"ALTER TABLE {TABLE} RESET (fillfactor)")
    ]
