import re

import pytest

from engagement.models import ProgramStaff
from engagement.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.webhooks.factories import SubscriptionFactory


@pytest.fixture
def log(acme, receiver, record_and_send):
    """Two subscriptions: one delivered event, and one failed (receiver answers 500)."""
    good = SubscriptionFactory(program=acme, url=receiver.url("/good"))
    receiver.respond = lambda received: 200 if received.path == "/good" else 500
    bad = SubscriptionFactory(program=acme, url=receiver.url("/bad"))
    record_and_send(acme, "reward.granted", {"points": 5})
    WebhookDelivery.objects.filter(subscription=bad).update(status="failed")
    return good, bad


def test_subscription_changelist_shows_success_rate(admin_client, log):
    response = admin_client.get("/admin/webhooks/webhooksubscription/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "100.0 %" in text
    assert "0.0 %" in text


def test_delivery_and_attempt_logs_render_with_filters(admin_client, log):
    deliveries = admin_client.get("/admin/webhooks/webhookdelivery/?status__exact=failed")
    attempts = admin_client.get("/admin/webhooks/webhookattempt/?succeeded__exact=0")
    delivery = WebhookDelivery.objects.get(status="failed")
    detail = admin_client.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/")

    assert (deliveries.status_code, attempts.status_code, detail.status_code) == (200, 200, 200)
    assert deliveries.context["cl"].result_count == 1
    assert attempts.context["cl"].result_count == 1
    assert "receiver says no" in detail.content.decode()  # the response excerpt of the attempt


def test_resend_action_delivers_again(admin_client, log, receiver, django_capture_on_commit_callbacks):
    from engagement.webhooks.tasks import deliver_webhooks_task

    receiver.respond = None  # the partner fixed its endpoint: 200 everywhere
    failed = WebhookDelivery.objects.get(status="failed")

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            "/admin/webhooks/webhookdelivery/", {"action": "resend", "_selected_action": [failed.pk]}, follow=True
        )
    deliver_webhooks_task([failed.pk])

    assert "Re-sending 1 delivery." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempt_count) == ("delivered", 2)


def test_adding_a_subscription_shows_the_secret_once(admin_client, acme):
    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {
            "program": acme.pk,
            "url": "https://crm.acme.example/hooks",
            "description": "CRM",
            "event_types": ["tier.changed"],
            "status": "active",
            "paused_reason": "",
        },
        follow=True,
    )

    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["tier.changed"]
    assert subscription.secret in response.content.decode()
    page = admin_client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret not in page
    assert subscription.secret[:10] in page


def test_admin_refuses_plain_http(admin_client, acme, settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = False

    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"program": acme.pk, "url": "http://crm.acme.example/hooks", "status": "active"},
    )

    assert response.status_code == 200
    assert re.search("must use https", response.content.decode())
    assert WebhookSubscription.objects.count() == 0


def test_staff_see_only_their_programs_log(client, django_user_model, acme, globex, log):
    from django.contrib.auth.models import Permission

    SubscriptionFactory(program=globex)
    user = django_user_model.objects.create_user("gus", "gus@globex.example", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="webhooks"))
    ProgramStaff.objects.create(program=globex, user=user)
    client.force_login(user)

    subscriptions = client.get("/admin/webhooks/webhooksubscription/").context["cl"].result_count
    deliveries = client.get("/admin/webhooks/webhookdelivery/").context["cl"].result_count

    assert (subscriptions, deliveries) == (1, 0)
