"""Web push from the portal: the service worker's URL and scope, storing and removing the
browser's PushSubscription, and (in Chromium) the page doing it after a click; then the
backend's push to a local push-service stand-in (RFC 8030: POST, TTL, aes128gcm, 201)."""

import base64
import json
import os

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engagement.channels.models import ConsentChange, Message, PushSubscription
from engagement.channels.sending import send_message
from engagement.channels.tasks import deliver_messages_task
from tests.accessibility import assert_accessible
from tests.rewards.test_portal import signed_in_client

# PushManager stand-in installed before the page's scripts: subscribe() answers with
# window.__fakeSubscription, unsubscribe() forgets it.
STAND_IN = """
(() => {
  let current = null;
  PushManager.prototype.subscribe = function (options) {
    window.__subscribeOptions = options && options.userVisibleOnly;
    const sub = window.__fakeSubscription;
    current = {endpoint: sub.endpoint, toJSON: () => sub,
               unsubscribe: () => { current = null; return Promise.resolve(true); }};
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})();
"""
SUBSCRIPTION = {"endpoint": "https://push.example/send/abc", "keys": {"p256dh": "BPk", "auth": "au"}}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.django_db
def test_service_worker_is_served_under_the_portal(client):
    response = client.get("/portal/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Service-Worker-Allowed"] == "/portal/"
    assert b'addEventListener("push"' in response.content


@pytest.mark.django_db
def test_subscribe_stores_the_subscription_and_gives_push_consent_then_unsubscribe(alice):
    client = signed_in_client(alice)
    response = client.post("/portal/push/subscribe/", SUBSCRIPTION, content_type="application/json")
    assert response.status_code == 201
    row = PushSubscription.objects.get()
    assert (row.customer, row.endpoint, row.p256dh, row.auth) == (alice, SUBSCRIPTION["endpoint"], "BPk", "au")
    again = client.post("/portal/push/subscribe/", SUBSCRIPTION, content_type="application/json")
    assert again.json() == {"id": row.pk} and PushSubscription.objects.count() == 1
    alice.refresh_from_db()
    assert alice.consent_push is True

    response = client.post(
        "/portal/push/unsubscribe/", {"endpoint": SUBSCRIPTION["endpoint"]}, content_type="application/json"
    )
    assert response.json() == {"removed": 1}
    alice.refresh_from_db()
    assert alice.consent_push is False and PushSubscription.objects.count() == 0
    assert [(c.channel, c.granted, c.source, c.detail) for c in ConsentChange.objects.order_by("id")] == [
        ("push", True, "portal", "subscribed"),
        ("push", False, "portal", "unsubscribed"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"endpoint": "ftp://x"}).encode(),
     json.dumps({"endpoint": "https://push.example/1", "keys": {"p256dh": "k"}}).encode()],
)  # fmt: skip
def test_malformed_subscription_is_400_and_stores_nothing(alice, body):
    response = signed_in_client(alice).post("/portal/push/subscribe/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert PushSubscription.objects.count() == 0 and ConsentChange.objects.count() == 0


@pytest.mark.django_db
def test_push_endpoints_need_sign_in(client):
    response = client.post("/portal/push/subscribe/", SUBSCRIPTION, content_type="application/json")
    assert response["Location"] == "/portal/login/"
    assert PushSubscription.objects.count() == 0


@pytest.fixture
def vapid(settings):
    from py_vapid import Vapid

    key = Vapid()
    key.generate_keys()
    settings.WEBPUSH_VAPID_PRIVATE_KEY = b64(key.private_key.private_numbers().private_value.to_bytes(32, "big"))
    settings.WEBPUSH_VAPID_PUBLIC_KEY = b64(
        key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:ops@acme.example"
    return key


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ar"])
def test_push_subscription_from_chromium_then_delivery_to_a_push_service_stand_in(
    live_server, browser_page, alice, vapid, http_peer, language
):
    # Chromium's push service is not reachable offline, so the page gets a PushSubscription
    # from a stand-in PushManager.subscribe() whose endpoint is a local push service and
    # whose keys are real P-256 keys held by this test (to decrypt what is pushed).
    receiver = ec.generate_private_key(ec.SECP256R1())
    public = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    endpoint = f"{http_peer.url}/push/alice-1"
    fake = {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": b64(public), "auth": b64(auth)}}
    page = browser_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    page.add_init_script("window.__fakeSubscription = " + json.dumps(fake) + ";\n" + STAND_IN)
    from tests.rewards.test_referral_browser import sign_in

    sign_in(page, live_server.url, "alice@example.com")
    if language != "en":
        page.click(f"button[data-lang={language}]")
        page.wait_for_selector(f"html[lang={language}]")
    page.goto(f"{live_server.url}/portal/profile/")
    page.wait_for_selector("[data-push][data-ready=true]")
    # The real service worker registered with the portal's scope.
    scope = page.evaluate("navigator.serviceWorker.getRegistration('/portal/').then(r => r && r.scope)")
    assert scope == f"{live_server.url}/portal/"
    if language == "en":
        assert page.inner_text("[data-testid=push-status]") == "Notifications are off in this browser."
    assert page.is_visible("[data-testid=push-subscribe]") and not page.is_visible("[data-testid=push-unsubscribe]")
    assert_accessible(page)

    page.click("[data-testid=push-subscribe]")
    page.wait_for_selector("[data-testid=push-unsubscribe]:not([hidden])")
    assert_accessible(page)
    assert page.evaluate("window.__subscribeOptions") is True
    row = PushSubscription.objects.get()
    assert (row.customer_id, row.endpoint, row.p256dh, row.auth) == (alice.pk, endpoint, b64(public), b64(auth))

    # The backend pushes to the stand-in: POST with TTL and an aes128gcm body, 201 Created.
    http_peer.default = (201, b"")
    alice.refresh_from_db()
    assert alice.consent_push is True  # subscribing in the page gave push consent
    message = send_message(
        customer=alice, channel="push", template_key="generic", context={"subject": "Hi", "body": "Points!"}
    )
    assert deliver_messages_task([message.pk]) == ["sent"]
    [request] = http_peer.requests
    assert (request.path, request.headers["TTL"], request.headers["Content-Encoding"]) == (
        "/push/alice-1", "86400", "aes128gcm",
    )  # fmt: skip
    plain = http_ece.decrypt(request.body, private_key=receiver, auth_secret=auth, version="aes128gcm")
    assert json.loads(plain) == {"title": "Hi", "body": "Points!", "message_id": message.pk}
    assert Message.objects.get(pk=message.pk).status == "sent"

    # Unsubscribing in the page removes the stored subscription.
    page.click("[data-testid=push-unsubscribe]")
    page.wait_for_selector("[data-testid=push-subscribe]:not([hidden])")
    assert PushSubscription.objects.count() == 0
    alice.refresh_from_db()
    assert alice.consent_push is False
