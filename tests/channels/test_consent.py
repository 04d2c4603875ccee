"""Consent and preferences: the history of every change, topics, the preference page by
signed link, RFC 8058 one-click unsubscribe, STOP/START keywords, email_unsubscribed events,
and sending that honours all of it."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from engagement.channels import consent
from engagement.channels.inbound import twilio_signature
from engagement.channels.models import ConsentChange, Message, TopicOptOut
from engagement.channels.sending import send_message
from engagement.channels.tasks import deliver_messages_task
from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.processing import process_events

pytestmark = pytest.mark.django_db
INBOUND = "http://testserver/hooks/channels/twilio/inbound/"


def history(customer):
    rows = ConsentChange.objects.filter(customer=customer).order_by("at", "id")
    return [(r.channel, r.topic, r.granted, r.source) for r in rows]


def send(customer, channel="email", **kwargs):
    return send_message(
        customer=customer, channel=channel, template_key="generic", context={"subject": "S", "body": "B"}, **kwargs
    )


def test_marketing_email_has_one_click_unsubscribe_and_a_visible_link(settings, alice):
    settings.SITE_URL = "https://rewards.acme.example"
    message = send(alice, source="campaign:7")
    assert message.topic == "offers"
    deliver_messages_task([message.pk])
    sent = mail.outbox[-1]
    token = consent.preferences_token(alice)
    assert sent.extra_headers["List-Unsubscribe"] == f"<https://rewards.acme.example/portal/unsubscribe/{token}/>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.body == (
        f"B\n\n--\nUnsubscribe or choose what we send you: https://rewards.acme.example/portal/preferences/{token}/\n"
    )


def test_survey_email_is_topic_surveys_with_headers_and_account_email_has_none(alice):
    survey = send(alice, source="surveys")
    account = send(alice, source="rewards", transactional=True)
    deliver_messages_task([survey.pk, account.pk])
    assert (survey.topic, account.topic) == ("surveys", "account")
    by_id = {m.extra_headers["X-Ganjaran-Message"]: m for m in mail.outbox}
    assert "List-Unsubscribe-Post" in by_id[str(survey.pk)].extra_headers
    assert "List-Unsubscribe" not in by_id[str(account.pk)].extra_headers
    assert by_id[str(account.pk)].body == "B"


def test_one_click_unsubscribe_withdraws_email_consent_and_sending_honours_it(alice):
    token = consent.preferences_token(alice)
    # A mail scanner's GET changes nothing.
    page = Client().get(f"/portal/unsubscribe/{token}/")
    assert page.status_code == 200 and 'data-testid="unsubscribe"' in page.content.decode()
    alice.refresh_from_db()
    assert alice.consent_email is True and history(alice) == []

    # The mail client's one-click POST: no cookie, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(
        f"/portal/unsubscribe/{token}/", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.consent_email is False
    assert history(alice) == [("email", "", False, "email_link")]
    assert ConsentChange.objects.get().detail == "one-click"
    assert (send(alice).status, send(alice).reason) == ("skipped", "no_consent")


def test_queued_email_is_dropped_when_consent_is_withdrawn_before_delivery(alice):
    message = send(alice)
    consent.set_channel_consent(alice, "email", False, "portal")
    assert deliver_messages_task([message.pk]) == [None]
    message.refresh_from_db()
    assert (message.status, message.reason) == ("dropped", "no_consent")
    assert mail.outbox == []


def test_forged_token_is_404_and_changes_nothing(alice):
    assert Client().get("/portal/preferences/forged-token/").status_code == 404
    assert Client().post("/portal/unsubscribe/forged-token/").status_code == 404
    alice.refresh_from_db()
    assert alice.consent_email is True and ConsentChange.objects.count() == 0


def test_preference_page_saves_channels_and_topics_with_history(alice):
    alice.consent_sms = True
    alice.save()
    url = f"/portal/preferences/{consent.preferences_token(alice)}/"
    client = Client()
    html = client.get(url).content.decode()
    assert 'name="channel_email" id="id_channel_email" checked' in html
    assert 'name="topic_surveys" id="id_topic_surveys" checked' in html

    response = client.post(url, {"channel_email": "on", "topic_account": "on", "topic_surveys": "on"})
    assert 'data-testid="saved"' in response.content.decode()
    alice.refresh_from_db()
    assert (alice.consent_email, alice.consent_sms) == (True, False)
    assert consent.get_preferences(alice)["topics"] == {"offers": False, "surveys": True, "account": True}
    assert sorted(history(alice)) == [("", "offers", False, "email_link"), ("sms", "", False, "email_link")]

    # The topic now stops offers on every channel, and only offers.
    offer, survey = send(alice, source="campaign:1"), send(alice, source="surveys")
    assert (offer.status, offer.reason, survey.status) == ("skipped", "topic_off", "queued")

    # Turning it back on is recorded too.
    client.post(url, {"channel_email": "on", "topic_account": "on", "topic_surveys": "on", "topic_offers": "on"})
    assert TopicOptOut.objects.count() == 0
    assert history(alice)[-1] == ("", "offers", True, "email_link")


def test_preference_page_in_arabic_is_rtl(alice):
    client = Client()
    client.post("/i18n/setlang/", {"language": "ar", "next": "/portal/"})
    html = client.get(f"/portal/preferences/{consent.preferences_token(alice)}/").content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert "تفضيلات الرسائل" in html


def test_signed_in_profile_links_to_own_preferences_recorded_as_portal(alice):
    from tests.rewards.test_portal import signed_in_client

    client = signed_in_client(alice)
    response = client.get("/portal/preferences/")
    token = consent.preferences_token(alice)
    assert response["Location"] == f"/portal/preferences/{token}/?from=portal"
    client.post(response["Location"], {"channel_email": "on", "topic_account": "on", "topic_offers": "on"})
    assert history(alice) == [("", "surveys", False, "portal")]


def _inbound(client, settings, sender, body):
    settings.SMS_AUTH_TOKEN = "secret-token"
    params = {"From": sender, "Body": body}
    return client.post(
        "/hooks/channels/twilio/inbound/",
        params,
        HTTP_X_TWILIO_SIGNATURE=twilio_signature("secret-token", INBOUND, params),
    )


@pytest.mark.parametrize("word", ["STOP", "stop ", "Unsubscribe", "BERHENTI", "إلغاء"])
def test_sms_stop_keyword_withdraws_sms_consent(client, settings, alice, bob, word):
    alice.phone, alice.consent_sms, alice.consent_whatsapp = "+60123", True, True
    alice.save()
    bob.phone, bob.consent_sms = "+60999", True
    bob.save()
    assert _inbound(client, settings, "+60123", word).status_code == 200
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.consent_sms, alice.consent_whatsapp, bob.consent_sms) == (False, True, True)
    assert history(alice) == [("sms", "", False, "sms_keyword")]
    assert send(alice, channel="sms").reason == "no_consent"


def test_whatsapp_stop_then_start(client, settings, alice):
    alice.phone, alice.consent_whatsapp = "+60123", True
    alice.save()
    _inbound(client, settings, "whatsapp:+60123", "STOP")
    alice.refresh_from_db()
    assert alice.consent_whatsapp is False
    _inbound(client, settings, "whatsapp:+60123", "START")
    alice.refresh_from_db()
    assert alice.consent_whatsapp is True
    assert history(alice) == [("whatsapp", "", False, "whatsapp_keyword"), ("whatsapp", "", True, "whatsapp_keyword")]


def test_other_inbound_text_changes_no_consent(client, settings, alice):
    alice.phone, alice.consent_sms = "+60123", True
    alice.save()
    _inbound(client, settings, "+60123", "please stop by tomorrow")
    alice.refresh_from_db()
    assert alice.consent_sms is True and history(alice) == []


def test_email_unsubscribed_event_withdraws_email_consent(acme, alice):
    when = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    event = CleanEvent(
        event_id="u-1", type="email_unsubscribed", customer="alice", occurred_at=when, value=None, currency="",
        properties={"message_id": "<m1@esp>"},
    )  # fmt: skip
    process_events(record_events(acme, [event], enqueue=False).event_ids)
    alice.refresh_from_db()
    assert alice.consent_email is False
    change = ConsentChange.objects.get()
    assert (change.channel, change.granted, change.source, change.at, change.detail) == (
        "email", False, "event", when, "event u-1",
    )  # fmt: skip


def test_api_consent_changes_are_recorded_with_source_api(acme, acme_api, alice):
    acme_api.patch("/api/v1/customers/alice", {"consent_email": False, "consent_sms": True}, format="json")
    acme_api.post("/api/v1/customers", {"external_id": "new1", "consent_whatsapp": True}, format="json")
    assert sorted(history(alice)) == [("email", "", False, "api"), ("sms", "", True, "api")]
    assert [
        (c.customer.external_id, c.channel, c.granted)
        for c in ConsentChange.objects.filter(customer__external_id="new1")
    ] == [("new1", "whatsapp", True)]


def test_profile_page_consent_change_is_recorded_as_portal(alice):
    from tests.rewards.test_portal import signed_in_client

    signed_in_client(alice).post("/portal/profile/", {"locale": "en", "consent_email": "on", "consent_push": "on"})
    assert history(alice) == [("push", "", True, "portal")]


def test_unsubscribe_link_in_a_delivered_email_works_end_to_end(alice):
    deliver_messages_task([send(alice).pk])
    link = re.search(r"<(https?://\S+?)>", mail.outbox[-1].extra_headers["List-Unsubscribe"]).group(1)
    path = link.split("://", 1)[1].split("/", 1)[1]
    Client().post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    alice.refresh_from_db()
    assert alice.consent_email is False
    assert Message.objects.count() == 1
