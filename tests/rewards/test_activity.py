"""Activity lines: message codes written by the services, rendered in the reader's language,
and the data migration that gives existing rows a code."""

import importlib
from decimal import Decimal

from django.apps import apps
from django.db import connection
from django.utils import translation

from rewards import activity, ledger
from rewards.campaigns.models import Campaign
from rewards.models import LedgerEntry, Redemption
from rewards.redemptions import fail_redemption, redeem_reward
from tests.rewards.factories import RewardItemFactory

migration = importlib.import_module("rewards.migrations.0003_activity_messages_of_existing_entries")


def lines(customer, language):
    with translation.override(language):
        return [str(e.message) for e in activity.describe_entries(activity.list_activity(customer))]


def test_entries_keep_a_code_and_read_in_each_language(db, acme, alice):
    item = RewardItemFactory(program=acme, points_cost=40, title_en="Free kopi", title_ar="قهوة مجانية", title_ms="")
    campaign = Campaign.objects.create(
        program=acme, name="Purchase >= 100: 5% back (tier multiplier)", trigger_kind="event",
        customer_title_en="Big spender bonus", customer_title_ar="مكافأة المشتريات الكبيرة",
    )  # fmt: skip
    ledger.grant_points(customer=alice, points=100, reason=activity.campaign(campaign), idempotency_key="c")
    redeem_reward(customer=alice, item=item, idempotency_key="r", channel="portal")

    entry = LedgerEntry.objects.get(idempotency_key="c")
    assert (entry.reason, entry.message_code) == ("Campaign: Purchase >= 100: 5% back (tier multiplier)", "campaign")
    assert entry.message_params == {
        "campaign": campaign.pk,
        "titles": {"en": "Big spender bonus", "ar": "مكافأة المشتريات الكبيرة"},
    }
    assert lines(alice, "en") == ["Redeemed: <bdi>Free kopi</bdi>", "Bonus: <bdi>Big spender bonus</bdi>"]
    assert lines(alice, "ar") == ["تم الاستبدال: <bdi>قهوة مجانية</bdi>", "مكافأة: <bdi>مكافأة المشتريات الكبيرة</bdi>"]
    # Malay has no titles here: the English ones stand in, isolated.
    assert lines(alice, "ms") == ["Ditebus: <bdi>Free kopi</bdi>", "Bonus: <bdi>Big spender bonus</bdi>"]


def test_a_failed_redemption_refund_names_the_reward(db, acme, alice):
    item = RewardItemFactory(program=acme, points_cost=40, title_en="Tumbler", title_ar="كوب حراري")
    ledger.grant_points(customer=alice, points=100, reason="seed", idempotency_key="seed")
    redemption = redeem_reward(customer=alice, item=item, idempotency_key="r", channel="portal")
    # As if still being delivered (a cash-like reward waiting for its payout)
    Redemption.objects.filter(pk=redemption.pk).update(status="processing", completed_at=None)

    fail_redemption(redemption.pk, "provider said no")

    refund = LedgerEntry.objects.get(kind="refund")
    assert (refund.reason, refund.message_code, refund.message_params) == (
        "Refund: provider said no", "redemption_refund", {"item": item.pk},
    )  # fmt: skip
    assert lines(alice, "ar")[0] == "إعادة النقاط: <bdi>كوب حراري</bdi>"
    # Free text from staff is never shown to the customer: a generic line for its kind.
    assert lines(alice, "en")[-1] == "Bonus points"


def test_names_in_a_title_are_escaped(db, acme, alice):
    item = RewardItemFactory(program=acme, points_cost=10, title_en="<script>x</script>")
    ledger.grant_points(customer=alice, points=10, reason="seed", idempotency_key="seed")
    redeem_reward(customer=alice, item=item, idempotency_key="r", channel="portal")

    assert lines(alice, "en")[0] == "Redeemed: <bdi>&lt;script&gt;x&lt;/script&gt;</bdi>"


def test_the_migration_gives_existing_rows_a_code(db, acme, alice):
    # Given rows written before codes existed (English text only)
    item = RewardItemFactory(program=acme, points_cost=30, title_en="Free kopi")
    ledger.bulk_grant(acme, [ledger.Grant(alice, 80, "Purchase 991", "p", source=("order", "991"))])
    ledger.grant_points(customer=alice, points=10, reason="Birthday bonus", idempotency_key="b")
    ledger.grant_points(customer=alice, points=5, reason="Campaign: X", idempotency_key="c", source=("campaign", 7))
    ledger.grant_points(customer=alice, points=3, reason="Goodwill (ticket 42)", idempotency_key="g")
    redeem_reward(customer=alice, item=item, idempotency_key="r", channel="portal")
    LedgerEntry.objects.update(message_code="", message_params={})

    with connection.schema_editor() as editor:
        migration.forwards(apps, editor)

    codes = dict(LedgerEntry.objects.values_list("idempotency_key", "message_code"))
    assert codes == {
        "p": "purchase", "b": "birthday", "c": "campaign", "g": "",
        f"redeem:redemption:{alice.redemptions.get().pk}": "redeem",
    }  # fmt: skip
    params = dict(LedgerEntry.objects.values_list("message_code", "message_params"))
    assert params["campaign"] == {"campaign": 7, "titles": {}}
    assert params["redeem"] == {"item": item.pk}
    assert lines(alice, "en") == ["Redeemed: <bdi>Free kopi</bdi>", "Bonus points", "Bonus points",
                                  "Birthday bonus", "Purchase"]  # fmt: skip


def test_purchase_points_say_the_amount_not_the_order(db, acme, alice):
    from django.utils import timezone

    from engagement.models import Event
    from rewards import earning

    event = Event.objects.create(
        program=acme, customer=alice, event_id="ev-1", type="purchase", occurred_at=timezone.now(),
        value=Decimal("42.50"), currency="MYR", properties={"order_id": "991"},
    )  # fmt: skip
    earning.earn_for_purchases(acme, [event])

    entry = LedgerEntry.objects.get()
    assert (entry.reason, entry.message_code) == ("Purchase 991", "purchase")
    assert entry.message_params == {"amount": "42.50", "currency": "MYR"}
    assert lines(alice, "ms") == ["Pembelian RM42.50"]
