"""Give existing ledger entries a message code (rewards.activity) where their English reason
says what happened; entries whose reason is free text keep none (they show a generic line).
Campaign entries get no title: campaigns had no customer-facing title before this release."""

from django.db import migrations

MAPPINGS = [
    # (message code, params as SQL, condition)
    ("purchase", "'{}'::jsonb", "kind = 'earn' AND source_type = 'order' AND reason LIKE 'Purchase %%'"),
    ("purchase_refund", "'{}'::jsonb", "kind = 'reverse' AND reason LIKE 'Refund of %%'"),
    ("referral", "'{}'::jsonb", "kind = 'earn' AND source_type = 'referral'"),
    (
        "campaign",
        "jsonb_build_object('campaign', source_id::bigint, 'titles', '{}'::jsonb)",
        "source_type = 'campaign' AND source_id ~ '^[0-9]+$'",
    ),
    (
        "redeem",
        "jsonb_build_object('item', (SELECT item_id FROM rewards_redemption r WHERE r.id = redemption_id))",
        "kind = 'redeem' AND redemption_id IS NOT NULL",
    ),
    (
        "redemption_refund",
        "jsonb_build_object('item', (SELECT item_id FROM rewards_redemption r WHERE r.id = redemption_id))",
        "kind = 'refund' AND redemption_id IS NOT NULL",
    ),
    ("expire", "'{}'::jsonb", "kind = 'expire'"),
    ("birthday", "'{}'::jsonb", "reason = 'Birthday bonus'"),
    ("welcome", "'{}'::jsonb", "reason = 'Welcome to the demo'"),
]


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for code, params, condition in MAPPINGS:
            cursor.execute(
                f"UPDATE rewards_ledgerentry SET message_code = %s, message_params = {params}"
                f" WHERE message_code = '' AND {condition}",
                [code],
            )
        # Released pending points (source lot) say what the points were earned for.
        cursor.execute(
            "UPDATE rewards_ledgerentry e SET message_code = o.message_code, message_params = o.message_params"
            " FROM rewards_pointslot l JOIN rewards_ledgerentry o ON o.id = l.entry_id"
            " WHERE e.message_code = '' AND e.source_type = 'lot' AND e.kind = 'earn'"
            " AND e.source_id = l.id::text AND o.message_code <> ''"
        )


class Migration(migrations.Migration):
    dependencies = [("rewards", "0002_activity_message_and_reward_use")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
