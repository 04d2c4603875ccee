"""Twilio-style status callbacks and inbound messages, signed with the auth token."""

import datetime as dt

import pytest
import time_machine

from engagement.channels.inbound import twilio_signature
from engagement.channels.models import Message
from engagement.channels.sending import send_message
from engagement.channels.tasks import deliver_messages_task

STATUS_URL = "https://ganjaran.example/hooks/channels/twilio/status/"
NOW = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def provider(settings, http_peer):
    settings.SMS_API_URL = http_peer.url
    settings.SMS_ACCOUNT_SID = "AC0123"
    settings.SMS_AUTH_TOKEN = "secret-token"
    settings.SMS_FROM = "+15550001111"
    settings.CHANNELS_STATUS_CALLBACK_URL = STATUS_URL
    return http_peer


@pytest.fixture
def sent_sms(provider, alice):
    alice.phone, alice.consent_sms = "+60123", True
    alice.save()
    message = send_message(customer=alice, channel="sms", template_key="generic", context={"body": "hi"})
    deliver_messages_task([message.pk])
    return Message.objects.get(pk=message.pk)


def _post(client, url, params, token="secret-token", signed_url=None):
    signature = twilio_signature(token, signed_url or url, params)
    return client.post(url, params, HTTP_X_TWILIO_SIGNATURE=signature)


@time_machine.travel(NOW, tick=False)
def test_delivered_report_moves_sent_to_delivered(client, sent_sms, status_log):
    params = {"MessageSid": "SM0001", "MessageStatus": "delivered", "AccountSid": "AC0123"}
    response = _post(client, "/hooks/channels/twilio/status/", params, signed_url=STATUS_URL)
    assert response.status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.delivered_at) == ("delivered", NOW)
    assert status_log == [(sent_sms.pk, "delivered")]
    # a repeated report changes nothing
    _post(client, "/hooks/channels/twilio/status/", params, signed_url=STATUS_URL)
    assert status_log == [(sent_sms.pk, "delivered")]


def test_undelivered_report_fails_the_message(client, sent_sms, status_log):
    params = {"MessageSid": "SM0001", "MessageStatus": "undelivered"}
    assert _post(client, "/hooks/channels/twilio/status/", params, signed_url=STATUS_URL).status_code == 204
    sent_sms.refresh_from_db()
    assert (sent_sms.status, sent_sms.reason, sent_sms.reason_detail) == (
        "failed",
        "provider_error",
        "undelivered (provider report)",
    )
    assert status_log == [(sent_sms.pk, "failed")]


def test_bad_signature_is_refused_and_changes_nothing(client, sent_sms):
    params = {"MessageSid": "SM0001", "MessageStatus": "delivered"}
    response = _post(client, "/hooks/channels/twilio/status/", params, token="wrong", signed_url=STATUS_URL)
    assert response.status_code == 403
    assert Message.objects.get(pk=sent_sms.pk).status == "sent"
    assert client.post("/hooks/channels/twilio/status/", params).status_code == 403


@time_machine.travel(NOW, tick=False)
def test_inbound_whatsapp_opens_the_window(client, provider, acme, alice, bob):
    alice.phone, alice.consent_whatsapp = "+60123", True
    alice.save()
    bob.phone = "+60999"
    bob.save()
    params = {"From": "whatsapp:+60123", "To": "whatsapp:+15550002222", "Body": "hello"}
    response = _post(
        client, "/hooks/channels/twilio/inbound/", params, signed_url="http://testserver/hooks/channels/twilio/inbound/"
    )
    assert (response.status_code, response.content) == (200, b"<Response/>")
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.last_inbound_message_at, bob.last_inbound_message_at) == (NOW, None)
    message = send_message(customer=alice, channel="whatsapp", template_key="generic", context={"body": "hi"})
    assert message.status == "queued"


def test_inbound_sms_does_not_open_the_whatsapp_window(client, provider, alice):
    alice.phone = "+60123"
    alice.save()
    params = {"From": "+60123", "Body": "STOP"}
    _post(
        client, "/hooks/channels/twilio/inbound/", params, signed_url="http://testserver/hooks/channels/twilio/inbound/"
    )
    alice.refresh_from_db()
    assert alice.last_inbound_message_at is None
