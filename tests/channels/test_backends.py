"""Backends against local HTTP servers: the Twilio-style SMS/WhatsApp API and a push service."""

import base64
import datetime as dt
import json
import os
from urllib.parse import parse_qs

import http_ece
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from engagement.channels.models import Message, PushSubscription
from engagement.channels.sending import send_message
from engagement.channels.tasks import deliver_messages_task

NOW = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)  # 12:00 in Kuala Lumpur


@pytest.fixture
def twilio(settings, http_peer):
    settings.SMS_API_URL = http_peer.url
    settings.SMS_ACCOUNT_SID = "AC0123"
    settings.SMS_AUTH_TOKEN = "secret-token"
    settings.SMS_FROM = "+15550001111"
    settings.WHATSAPP_FROM = "+15550002222"
    settings.CHANNELS_STATUS_CALLBACK_URL = ""
    return http_peer


@pytest.fixture
def carol(acme):
    from tests.factories import CustomerFactory

    return CustomerFactory(
        program=acme,
        external_id="carol",
        name="Carol",
        phone="+60123456789",
        consent_sms=True,
        consent_whatsapp=True,
        consent_push=True,
        last_inbound_message_at=NOW - dt.timedelta(hours=2),
    )


def _send(customer, channel, body="Your code is 1234", **kwargs):
    return send_message(customer=customer, channel=channel, template_key="generic", context={"body": body}, **kwargs)


def _basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@time_machine.travel(NOW, tick=False)
def test_sms_posts_the_exact_form_with_basic_auth(twilio, carol):
    message = _send(carol, "sms")

    assert deliver_messages_task([message.pk]) == ["sent"]

    [request] = twilio.requests
    assert request.path == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request.headers["Authorization"] == _basic("AC0123", "secret-token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "To": ["+60123456789"],
        "From": ["+15550001111"],
        "Body": ["Your code is 1234"],
    }
    message.refresh_from_db()
    assert (message.status, message.provider_id, message.sent_at, message.attempts) == ("sent", "SM0001", NOW, 1)


@time_machine.travel(NOW, tick=False)
def test_whatsapp_uses_whatsapp_addresses_and_the_status_callback(twilio, settings, carol):
    settings.CHANNELS_STATUS_CALLBACK_URL = "https://ganjaran.example/hooks/channels/twilio/status/"
    twilio.reply(201, b'{"sid": "SMwa01"}')
    message = _send(carol, "whatsapp", body="Your cart misses you")

    assert deliver_messages_task([message.pk]) == ["sent"]

    assert parse_qs(twilio.requests[0].body.decode()) == {
        "To": ["whatsapp:+60123456789"],
        "From": ["whatsapp:+15550002222"],
        "Body": ["Your cart misses you"],
        "StatusCallback": ["https://ganjaran.example/hooks/channels/twilio/status/"],
    }
    assert Message.objects.get(pk=message.pk).provider_id == "SMwa01"


def test_transient_error_requeues_with_backoff_then_sends(twilio, carol, status_log):
    with time_machine.travel(NOW, tick=False):
        twilio.reply(503, b'{"message": "try later"}')
        message = _send(carol, "sms")
        assert deliver_messages_task([message.pk]) == ["queued"]
        message.refresh_from_db()
        assert (message.status, message.attempts, message.reason) == ("queued", 1, "provider_error")
        assert message.send_after == NOW + dt.timedelta(seconds=60)
        assert message.reason_detail == 'HTTP 503: {"message": "try later"}'
        # too early: a duplicate task does nothing
        assert deliver_messages_task([message.pk]) == [None]
    with time_machine.travel(NOW + dt.timedelta(seconds=61), tick=False):
        assert deliver_messages_task([message.pk]) == ["sent"]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.reason, len(twilio.requests)) == ("sent", 2, "", 2)
    assert status_log == [(message.pk, "sent")]


@time_machine.travel(NOW, tick=False)
def test_permanent_error_fails_and_notifies(twilio, carol, status_log):
    twilio.reply(400, b'{"code": 21211, "message": "invalid To"}')
    message = _send(carol, "sms")

    assert deliver_messages_task([message.pk]) == ["failed"]

    message.refresh_from_db()
    assert (message.status, message.reason, message.failed_at) == ("failed", "provider_error", NOW)
    assert message.reason_detail == 'HTTP 400: {"code": 21211, "message": "invalid To"}'
    assert status_log == [(message.pk, "failed")]
    assert deliver_messages_task([message.pk]) == [None]
    assert len(twilio.requests) == 1


def test_gives_up_after_max_attempts(twilio, settings, carol, status_log):
    settings.CHANNELS_MAX_ATTEMPTS = 2
    twilio.default = (500, b"boom")
    with time_machine.travel(NOW, tick=False):
        message = _send(carol, "sms")
        assert deliver_messages_task([message.pk]) == ["queued"]
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        assert deliver_messages_task([message.pk]) == ["failed"]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.reason_detail) == (
        "failed",
        2,
        "after 2 attempts: HTTP 500: boom",
    )
    assert status_log == [(message.pk, "failed")]


@time_machine.travel(NOW, tick=False)
def test_without_a_provider_url_sms_is_logged_as_sent_console(settings, carol):
    settings.SMS_API_URL = ""
    message = _send(carol, "sms")

    assert deliver_messages_task([message.pk]) == ["sent"]
    assert Message.objects.get(pk=message.pk).provider_id == f"console-{message.pk}"


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _browser_subscription(customer, endpoint):
    """A subscription with real browser-side keys, so the test can decrypt what is pushed."""
    receiver = ec.generate_private_key(ec.SECP256R1())
    public = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    subscription = PushSubscription.objects.create(
        program=customer.program, customer=customer, endpoint=endpoint, p256dh=_b64(public), auth=_b64(auth)
    )
    return subscription, receiver, auth


@pytest.fixture
def vapid(settings):
    from py_vapid import Vapid

    key = Vapid()
    key.generate_keys()
    settings.WEBPUSH_VAPID_PRIVATE_KEY = _b64(key.private_key.private_numbers().private_value.to_bytes(32, "big"))
    settings.WEBPUSH_VAPID_SUBJECT = "mailto:ops@acme.example"
    return key


@time_machine.travel(NOW, tick=False)
def test_web_push_is_encrypted_for_the_subscription_and_signed(vapid, http_peer, carol):
    http_peer.default = (201, b"")
    subscription, receiver, auth = _browser_subscription(carol, f"{http_peer.url}/push/abc")
    message = send_message(
        customer=carol, channel="push", template_key="generic", context={"subject": "Hi", "body": "Points!"}
    )

    assert deliver_messages_task([message.pk]) == ["sent"]

    [request] = http_peer.requests
    assert request.path == "/push/abc"
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert request.headers["TTL"] == "86400"
    assert request.headers["Authorization"].startswith("vapid t=")
    plain = http_ece.decrypt(request.body, private_key=receiver, auth_secret=auth, version="aes128gcm")
    assert json.loads(plain) == {"title": "Hi", "body": "Points!", "message_id": message.pk}
    subscription.refresh_from_db()
    assert subscription.last_success_at == NOW
    assert Message.objects.get(pk=message.pk).provider_id == str(subscription.pk)


@time_machine.travel(NOW, tick=False)
def test_web_push_gone_subscription_is_expired_and_the_message_fails(vapid, http_peer, carol):
    http_peer.default = (410, b"")
    subscription, _, _ = _browser_subscription(carol, f"{http_peer.url}/push/gone")
    message = _send(carol, "push")

    assert deliver_messages_task([message.pk]) == ["failed"]

    subscription.refresh_from_db()
    assert subscription.expired_at == timezone.now()
    assert Message.objects.get(pk=message.pk).reason_detail == "every push subscription was refused or has expired"
    # with no active subscription left, the next push is skipped at once
    assert _send(carol, "push").reason == "no_address"
