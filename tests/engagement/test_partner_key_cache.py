"""The partner API's key cache and rate counter (engagement.partner_api.keycache): keys are
read from the database once per epoch, every committed change to a key, a program or its
settings makes every process read again, and the sliding-window counter is exact."""

import math
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from engagement.models import PartnerKey
from engagement.partner_api import keycache
from rewards import ledger
from rewards.checkout.models import CheckoutSettings, EarningRule

URL = "/api/v1/customers/alice"
PARTNER_KEY_QUERY = 'FROM "engagement_partnerkey"'


def key_queries(captured):
    return [q["sql"] for q in captured if PARTNER_KEY_QUERY in q["sql"] and q["sql"].startswith("SELECT")]


@pytest.fixture
def key_and_client(acme):
    key, raw = PartnerKey.issue(acme, "shop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return key, client


def another_process_changes_something():
    """What `bump()` in another web process looks like from here: Redis's epoch moves, this
    process's own entries stay."""
    keycache._redis().set(keycache.EPOCH_KEY, "from-another-process")


def test_a_key_is_read_from_the_database_once_then_from_the_cache(alice, key_and_client):
    _key, client = key_and_client
    with CaptureQueriesContext(connection) as first:
        assert client.get(URL).status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get(URL).status_code == 200

    assert len(key_queries(first.captured_queries)) == 1
    assert key_queries(second.captured_queries) == []
    assert len(second.captured_queries) == 1  # the customer alone


def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(alice, key_and_client):
    key, client = key_and_client
    assert client.get(URL).status_code == 200
    # The other process's revoke: the row and the epoch, none of this process's signals.
    PartnerKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert client.get(URL).status_code == 200  # nothing said it changed: the cached entry is current

    another_process_changes_something()
    answer = client.get(URL)

    assert answer.status_code == 401
    assert answer.json()["errors"][0]["detail"] == "Unknown or revoked partner key."


def test_revoke_bumps_the_epoch_for_every_process_once_committed(
    alice, key_and_client, django_capture_on_commit_callbacks
):
    key, client = key_and_client
    assert client.get(URL).status_code == 200
    before = keycache.read_epoch()

    with django_capture_on_commit_callbacks(execute=True):
        key.revoke()

    assert keycache.read_epoch() != before
    assert client.get(URL).status_code == 401


def test_the_admin_action_revokes_at_once(alice, key_and_client, admin_client):
    key, client = key_and_client
    assert client.get(URL).status_code == 200

    admin_client.post(
        "/admin/engagement/partnerkey/", {"action": "revoke_selected", "_selected_action": [key.pk]}, follow=True
    )

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get(URL).status_code == 401


def test_a_lost_epoch_is_replaced_and_nothing_cached_before_counts(alice, key_and_client):
    _key, client = key_and_client
    assert client.get(URL).status_code == 200
    cached_epoch = keycache.get(next(iter(keycache._entries)))[0]

    keycache._redis().delete(keycache.EPOCH_KEY)  # a Redis restart
    assert client.get(URL).status_code == 200

    new_epoch = keycache.read_epoch()
    assert new_epoch != cached_epoch
    assert [epoch for epoch, _key, _at in keycache._entries.values()] == [new_epoch]


def test_last_used_at_is_written_once_a_minute_not_per_request(alice, key_and_client):
    key, client = key_and_client
    for _ in range(3):
        assert client.get(URL).status_code == 200
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None

    assert client.get(URL).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first


def evaluate(client, lines=None):
    body = {
        "customer": "alice",
        "currency": "MYR",
        "lines": lines or [{"sku": "TEE", "category": "shirts", "quantity": 1, "unit_price": "100.00"}],
    }
    return client.post("/api/v1/checkout/evaluate", body, format="json").json()


def test_a_settings_or_rule_change_reaches_the_next_request(acme, alice, key_and_client):
    _key, client = key_and_client
    ledger.grant_points(customer=alice, points=50_000, reason="t", idempotency_key="t")
    first = evaluate(client)["points"]
    assert (first["earned"], first["max_spendable"], first["limited_by"]) == (100, 10_000, "order_value")

    EarningRule.objects.create(program=acme, name="Shirts ×2", target="category", value="shirts", multiplier=Decimal(2))
    assert evaluate(client)["points"]["earned"] == 200

    checkout = CheckoutSettings.get_for(acme)
    checkout.max_order_share_percent = 10
    checkout.save()
    points = evaluate(client)["points"]
    assert (points["max_spendable"], points["limited_by"]) == (1_000, "order_value")  # 10 % of 100.00 at 0.01

    rule = EarningRule.objects.get(program=acme)
    rule.delete()
    assert evaluate(client)["points"]["earned"] == 100


def test_a_rule_changed_by_another_process_reaches_this_one_through_the_epoch(acme, alice, key_and_client):
    _key, client = key_and_client
    assert evaluate(client)["points"]["earned"] == 100  # creates the program's settings rows
    assert evaluate(client)["points"]["earned"] == 100  # now from the cache
    # Another process's save: the row (no signal here) and the epoch.
    EarningRule.objects.bulk_create(
        [EarningRule(program=acme, name="Shirts ×3", target="category", value="shirts", multiplier=Decimal(3))]
    )
    assert evaluate(client)["points"]["earned"] == 100

    another_process_changes_something()

    assert evaluate(client)["points"]["earned"] == 300


# --- the rate counter ------------------------------------------------------------------------


def test_refused_requests_are_not_counted(alice, key_and_client, settings):
    key, client = key_and_client
    settings.API_RATE_LIMIT = "2/hour"
    statuses = [client.get(URL).status_code for _ in range(5)]

    current_key, _previous, _start = keycache._keys(key.pk, 3600, keycache.now())
    assert statuses == [200, 200, 429, 429, 429]
    assert int(keycache._redis().get(current_key)) == 2


def test_the_previous_window_still_counts_while_it_overlaps(alice, key_and_client, settings):
    key, client = key_and_client
    settings.API_RATE_LIMIT = "10/day"
    now = keycache.now()
    _current, previous_key, start = keycache._keys(key.pk, 86400, now)
    keycache._redis().set(previous_key, 10)
    overlap = 1 - (now - start) / 86400
    # Requests that fit: previous × overlap + n <= 10.
    fits = math.floor(10 - 10 * overlap)

    statuses = [client.get(URL).status_code for _ in range(fits + 1)]
    refused = client.get(URL)

    assert statuses == [200] * fits + [429]
    retry_after = int(refused["Retry-After"])
    # One more fits once the previous window's weight has dropped by one request.
    expected = start + (1 - (10 - fits - 1) / 10) * 86400 - keycache.now()
    assert abs(retry_after - expected) <= 2


def test_two_keys_are_counted_apart(acme, alice, settings):
    settings.API_RATE_LIMIT = "2/hour"
    clients = []
    for name in ("one", "two"):
        _key, raw = PartnerKey.issue(acme, name)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        clients.append(client)

    statuses = [[c.get(URL).status_code for _ in range(3)] for c in clients]

    assert statuses == [[200, 200, 429], [200, 200, 429]]


def test_without_redis_the_cache_and_counter_live_in_the_process(alice, key_and_client, settings):
    key, client = key_and_client
    settings.REDIS_URL = ""  # the embedded single-process setup
    settings.API_RATE_LIMIT = "2/hour"

    statuses = [client.get(URL).status_code for _ in range(3)]
    key.revoke()
    after_revoke = client.get(URL).status_code

    assert statuses == [200, 200, 429]
    assert after_revoke == 401


def test_the_customer_answer_is_the_same_with_fields_built_once(acme, alice):
    from rest_framework import serializers

    from engagement.serializers import CustomerOutputSerializer, CustomerUpsertOutputSerializer

    class Plain(serializers.ModelSerializer):
        class Meta(CustomerOutputSerializer.Meta):
            pass

    bob = type(alice).objects.create(program=acme, external_id="bob", name="Bob", attributes={"vip": True})
    first, second = CustomerOutputSerializer(alice), CustomerOutputSerializer(bob)

    assert first.data == Plain(alice).data
    assert second.data == Plain(bob).data
    assert first.data["name"] == "Alice" and second.data["name"] == "Bob"
    assert first.fields["name"] is not second.fields["name"]  # copies, never shared between requests
    bob.referral = None  # what the upsert view sets
    assert set(CustomerUpsertOutputSerializer(bob).data) - set(second.data) == {"referral"}


def test_without_redis_a_change_by_another_process_is_seen_after_the_local_ttl(alice, key_and_client, settings):
    key, client = key_and_client
    settings.REDIS_URL = ""
    assert client.get(URL).status_code == 200
    PartnerKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())  # another process: no signal here
    assert client.get(URL).status_code == 200  # within LOCAL_TTL

    hashed = next(iter(keycache._entries))
    epoch, cached, stored_at = keycache._entries[hashed]
    keycache._entries[hashed] = (epoch, cached, stored_at - keycache.LOCAL_TTL - 1)

    assert client.get(URL).status_code == 401
