import pytest

from engagement.webhooks.models import WebhookSubscription
from tests.webhooks.factories import SubscriptionFactory


@pytest.fixture(autouse=True)
def _production_url_rule(settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = False


def test_post_creates_a_subscription_and_shows_the_secret_once(acme, acme_api):
    response = acme_api.post(
        "/api/v1/webhooks",
        {"url": "https://crm.acme.example/hooks", "event_types": ["payout.failed", "reward.granted"]},
        format="json",
    )

    assert response.status_code == 201
    subscription = WebhookSubscription.objects.get()
    body = response.json()
    assert body["secret"] == subscription.secret
    assert body["secret"].startswith("whsec_")
    assert {k: body[k] for k in ("id", "url", "event_types", "status", "description")} == {
        "id": subscription.pk,
        "url": "https://crm.acme.example/hooks",
        "event_types": ["payout.failed", "reward.granted"],
        "status": "active",
        "description": "",
    }
    assert subscription.program == acme
    # never again: reads don't carry it
    listed = acme_api.get("/api/v1/webhooks").json()
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]
    assert "secret" not in acme_api.get(f"/api/v1/webhooks/{subscription.pk}").json()


def test_post_is_idempotent(acme, acme_api):
    body = {"url": "https://crm.acme.example/hooks"}

    first = acme_api.post("/api/v1/webhooks", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    again = acme_api.post("/api/v1/webhooks", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert WebhookSubscription.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    ["http://crm.acme.example/hooks", "http://127.0.0.1:8765/hooks", "ftp://crm.acme.example/", "not a url"],
)
def test_post_refuses_non_https_urls_and_stores_nothing(acme, acme_api, url):
    response = acme_api.post("/api/v1/webhooks", {"url": url}, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert [error["attr"] for error in response.json()["errors"]] == ["url"]
    assert WebhookSubscription.objects.count() == 0


def test_http_to_loopback_is_allowed_when_the_setting_is_on(acme, acme_api, settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = True

    ok = acme_api.post("/api/v1/webhooks", {"url": "http://127.0.0.1:8765/hooks"}, format="json")
    remote = acme_api.post("/api/v1/webhooks", {"url": "http://crm.acme.example/hooks"}, format="json")

    assert (ok.status_code, remote.status_code) == (201, 400)
    assert list(WebhookSubscription.objects.values_list("url", flat=True)) == ["http://127.0.0.1:8765/hooks"]


def test_post_refuses_unknown_event_types(acme, acme_api):
    response = acme_api.post(
        "/api/v1/webhooks", {"url": "https://crm.acme.example/h", "event_types": ["reward.gifted"]}, format="json"
    )

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("invalid_choice", "event_types.0")]
    assert WebhookSubscription.objects.count() == 0


def test_list_shows_only_the_callers_program(acme, globex, acme_api):
    mine = SubscriptionFactory(program=acme)
    SubscriptionFactory(program=globex)

    results = acme_api.get("/api/v1/webhooks").json()["results"]

    assert [row["id"] for row in results] == [mine.pk]


def test_delete_removes_own_subscription(acme, acme_api):
    subscription = SubscriptionFactory(program=acme)

    response = acme_api.delete(f"/api/v1/webhooks/{subscription.pk}")

    assert response.status_code == 204
    assert WebhookSubscription.objects.count() == 0


def test_another_programs_subscription_is_a_404_and_stays(acme, globex, acme_api):
    theirs = SubscriptionFactory(program=globex)

    assert acme_api.delete(f"/api/v1/webhooks/{theirs.pk}").status_code == 404
    assert acme_api.get(f"/api/v1/webhooks/{theirs.pk}").status_code == 404
    assert acme_api.post(f"/api/v1/webhooks/{theirs.pk}/rotate-secret").status_code == 404
    theirs_after = WebhookSubscription.objects.get(pk=theirs.pk)
    assert (theirs_after.secret, theirs_after.previous_secret) == (theirs.secret, "")


def test_rotate_secret_returns_the_new_secret_and_keeps_the_old_one_signing(acme, acme_api):
    subscription = SubscriptionFactory(program=acme)
    old = subscription.secret

    response = acme_api.post(f"/api/v1/webhooks/{subscription.pk}/rotate-secret")

    subscription.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["secret"] == subscription.secret != old
    assert subscription.signing_secrets() == [subscription.secret, old]


def test_requires_a_partner_key(acme):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/webhooks").status_code == 401
