"""Exactly once even when the database connection drops (issue 13): the effect and the stored
response commit in one transaction, so a retry replays; a claim with nothing committed is taken
over at once. The request's backend is killed with pg_terminate_backend from another
connection, right after the commit of the transaction that wrote the effect."""

from contextlib import contextmanager

from django.db import connection, connections, transaction

from engagement.models import IdempotencyRecord
from engagement.webhooks.models import WebhookSubscription
from rewards.campaigns.models import Campaign
from tests.conftest import make_partner_client, wait_for

CAMPAIGN = {
    "name": "Welcome",
    "status": "draft",
    "trigger": {"kind": "event", "config": {"event_type": "app_installed"}},
    "actions": [{"kind": "grant_points", "config": {"points": 10}}],
}
SUBSCRIPTION = {"url": "https://crm.acme.example/hooks", "event_types": ["reward.granted"]}


def _backend_alive(pid):
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            return cursor.fetchone()[0] == 1
    finally:
        other.close()


@contextmanager
def kill_backend_after_commit(table, *, before_commit=False):
    """Kill this connection's backend from another one right after the commit of the
    transaction that first INSERTs into `table` (the request's effect), or, `before_commit`,
    right after that INSERT (the effect never commits). Yields the killed pids."""
    killed = []

    def terminate(pid):
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            other.close()
        killed.append(pid)

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not killed and sql.startswith(f'INSERT INTO "{table}"'):
            pid = connection.connection.info.backend_pid
            if before_commit:
                terminate(pid)
            else:
                transaction.on_commit(lambda: terminate(pid))
        return result

    with connection.execute_wrapper(wrapper):
        yield killed


def _post_through_a_dropped_connection(program, path, body, key, table):
    client = make_partner_client(program, "dropped")
    client.raise_request_exception = False  # on old code the dead connection surfaced as a 500
    with kill_backend_after_commit(table) as killed:
        first = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert len(killed) == 1
    wait_for(lambda: not _backend_alive(killed[0]), message="the request's backend to be gone")
    connection.close()  # Django cannot know the server ended it
    retry = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    return first, retry


def test_campaign_created_once_and_replayed_when_the_connection_drops_after_commit(transactional_db, acme):
    # Given a POST /campaigns whose database backend is killed right after its commit
    first, retry = _post_through_a_dropped_connection(
        acme, "/api/v1/campaigns", CAMPAIGN, "camp-1", Campaign._meta.db_table
    )

    # Then the retry replays the first answer (which the partner may never have received)
    # and there is exactly one campaign
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.json()["id"] == Campaign.objects.get().pk
    assert IdempotencyRecord.objects.get(key="camp-1").state == "done"


def test_webhook_subscription_created_once_and_replayed_when_the_connection_drops(transactional_db, acme):
    first, retry = _post_through_a_dropped_connection(
        acme, "/api/v1/webhooks", SUBSCRIPTION, "hook-1", WebhookSubscription._meta.db_table
    )

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    subscription = WebhookSubscription.objects.get()
    assert (retry.json()["id"], retry.json()["secret"]) == (subscription.pk, subscription.secret)


def test_a_claim_with_nothing_committed_is_taken_over_at_once(transactional_db, acme, acme_api):
    # Given a claim left "running" by a request whose connection dropped before its commit
    IdempotencyRecord.objects.create(program=acme, key="camp-2", operation="POST /api/v1/campaigns", request_hash="x")

    # When the partner retries (no 10-minute wait, no 409)
    response = acme_api.post("/api/v1/campaigns", CAMPAIGN, format="json", HTTP_IDEMPOTENCY_KEY="camp-2")
    again = acme_api.post("/api/v1/campaigns", CAMPAIGN, format="json", HTTP_IDEMPOTENCY_KEY="camp-2")

    # Then it runs once, and the next retry replays it
    assert response.status_code == 201
    assert (again.status_code, again.json()) == (201, response.json())
    assert Campaign.objects.count() == 1


def test_a_request_whose_connection_dropped_before_commit_runs_again_at_once(transactional_db, acme):
    # Given a POST /campaigns whose backend is killed after its INSERT, before its commit
    client = make_partner_client(acme, "dropped")
    client.raise_request_exception = False
    with kill_backend_after_commit(Campaign._meta.db_table, before_commit=True) as killed:
        first = client.post("/api/v1/campaigns", CAMPAIGN, format="json", HTTP_IDEMPOTENCY_KEY="camp-3")
    wait_for(lambda: not _backend_alive(killed[0]), message="the request's backend to be gone")
    connection.close()
    assert first.status_code == 500
    assert Campaign.objects.count() == 0  # nothing of it committed; its claim may remain

    # When the partner retries with the same key
    retry = client.post("/api/v1/campaigns", CAMPAIGN, format="json", HTTP_IDEMPOTENCY_KEY="camp-3")

    # Then it runs now (no 409, no wait) and exactly once
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert retry.json()["id"] == Campaign.objects.get().pk
