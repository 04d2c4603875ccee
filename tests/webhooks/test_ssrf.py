"""Server-side request forgery (issue 13, item 5): targets on inner addresses are refused at
save (API and admin) and at every delivery; staff see "failed", not connection detail."""

import pytest
from django.contrib.auth.models import Permission

from engagement.models import ProgramStaff
from engagement.outbound_http import address_allowed
from engagement.webhooks.models import WebhookAttempt, WebhookSubscription
from payouts.models import ProviderAccount
from tests.webhooks.factories import SubscriptionFactory

INNER_URLS = [
    "https://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "https://10.0.0.1/x",  # private
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",  # shared address space (carrier-grade NAT)
    "https://localhost:5432/x",  # loopback by name
    "https://127.0.0.2/x",
    "https://[::1]/x",
    "https://[::ffff:10.0.0.1]/x",  # IPv4-mapped private
    "https://[fe80::1]/x",
    "https://[fd00::1]/x",  # unique local
    "https://224.0.0.1/x",  # multicast
    "https://240.0.0.1/x",  # reserved
    "https://0.0.0.0/x",
]


@pytest.fixture
def production_rule(settings):
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = False
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = False


@pytest.mark.parametrize("url", INNER_URLS)
def test_api_refuses_targets_on_inner_addresses(acme, acme_api, production_rule, url):
    response = acme_api.post("/api/v1/webhooks", {"url": url}, format="json")

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("address_not_allowed", "url")]
    assert WebhookSubscription.objects.count() == 0


def test_api_accepts_a_public_address(acme, acme_api, production_rule):
    response = acme_api.post("/api/v1/webhooks", {"url": "https://93.184.215.14/hooks"}, format="json")

    assert response.status_code == 201
    assert list(WebhookSubscription.objects.values_list("url", flat=True)) == ["https://93.184.215.14/hooks"]


def test_admin_refuses_a_target_on_an_inner_address(admin_client, acme, production_rule):
    response = admin_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"program": acme.pk, "url": "https://169.254.169.254/latest/meta-data/", "status": "active"},
    )

    assert response.status_code == 200
    assert "only public addresses can be reached" in response.content.decode()
    assert WebhookSubscription.objects.count() == 0


def test_loopback_is_refused_at_delivery_when_the_switch_is_off(acme, receiver, record_and_send, settings):
    # Given a target saved while loopback was allowed (or a name re-pointed after the save)
    SubscriptionFactory(program=acme, url=receiver.url().replace("127.0.0.1", "localhost"))
    settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK = False

    # When the event is delivered
    event = record_and_send(acme, "reward.granted", {"points": 5})

    # Then nothing reached the address: the attempt failed, the delivery will retry
    attempt = event.deliveries.get().attempts.get()
    assert receiver.received == []
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (None, False, "address not allowed")
    assert event.deliveries.get().status == "pending"


def test_loopback_is_delivered_to_when_the_switch_is_on(acme, receiver, record_and_send):
    SubscriptionFactory(program=acme, url=receiver.url().replace("127.0.0.1", "localhost"))

    event = record_and_send(acme, "reward.granted", {"points": 5})

    assert [r.path for r in receiver.received] == ["/hooks"]
    assert event.deliveries.get().status == "delivered"


def test_staff_see_failed_and_superusers_see_the_connection_detail(
    client, admin_client, django_user_model, acme, record_and_send
):
    from engagement.webhooks.receiver import LocalReceiver

    closed = LocalReceiver().start()
    closed.stop()  # nothing listens: "connection refused"
    SubscriptionFactory(program=acme, url=closed.url())
    event = record_and_send(acme, "reward.granted", {"points": 5})
    attempt = WebhookAttempt.objects.get()
    assert "refused" in attempt.error.lower()
    staff = django_user_model.objects.create_user("sam", "sam@acme.example", "pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="webhooks"))
    ProgramStaff.objects.create(program=acme, user=staff)
    client.force_login(staff)
    delivery_id = event.deliveries.get().pk
    pages = [
        "/admin/webhooks/webhookattempt/",
        f"/admin/webhooks/webhookattempt/{attempt.pk}/change/",
        f"/admin/webhooks/webhookdelivery/{delivery_id}/change/",
        "/admin/webhooks/webhookdelivery/",
    ]

    staff_pages = [client.get(page) for page in pages]
    superuser_pages = [admin_client.get(page) for page in pages[:3]]

    assert [page.status_code for page in staff_pages] == [200, 200, 200, 200]
    for page in staff_pages:
        assert "refused" not in page.content.decode().lower()
    for page in staff_pages[:3]:
        assert ">failed<" in page.content.decode()
    for page in superuser_pages:
        assert "refused" in page.content.decode().lower()
    # searching the error text is a superuser's tool too
    assert client.get("/admin/webhooks/webhookattempt/?q=refused").context["cl"].result_count == 0
    assert admin_client.get("/admin/webhooks/webhookattempt/?q=refused").context["cl"].result_count == 1


@pytest.mark.parametrize(
    "address, allowed",
    [("93.184.215.14", True), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True), ("127.0.0.1", False)],
)
def test_address_rule(address, allowed):
    assert address_allowed(address) is allowed


def test_provider_base_url_on_an_inner_address_is_refused_in_the_admin(admin_client, acme, production_rule):
    response = admin_client.post(
        "/admin/payouts/provideraccount/add/",
        {"program": acme.pk, "provider": "tremendous", "base_url": "https://10.1.2.3/api/v2", "api_key": "k"},
    )

    assert response.status_code == 200
    assert "only public addresses can be reached" in response.content.decode()
    assert ProviderAccount.objects.count() == 0
