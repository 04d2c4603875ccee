"""Template lookup: DB rows over files, the customer's locale, English fallback, plain text."""

import pytest

from engagement.channels.models import MessageTemplate
from engagement.channels.rendering import TemplateNotFound, render_message
from engagement.channels.sending import send_message


def test_file_template_in_the_customer_locale(alice):
    alice.locale = "ms"
    alice.save()
    message = send_message(customer=alice, channel="email", template_key="reward_granted", context={"points": 50})
    assert (message.locale, message.subject) == ("ms", "Anda menerima ganjaran")
    assert message.body == "Hai Alice, anda menerima 50 points daripada Acme."


def test_arabic_file_template(alice):
    alice.locale = "ar"
    alice.save()
    message = send_message(customer=alice, channel="email", template_key="win_back", context={"offer": "10%"})
    assert (message.locale, message.subject) == ("ar", "اشتقنا إليك")
    assert message.body == "مرحبًا Alice، مرّ وقت منذ زيارتك الأخيرة إلى Acme. 10%"


def test_missing_locale_falls_back_to_english(alice):
    alice.locale = "ar"
    alice.save()
    message = send_message(
        customer=alice, channel="email", template_key="generic", context={"subject": "S", "body": "B"}
    )
    assert (message.locale, message.subject, message.body) == ("en", "S", "B")


def test_db_row_overrides_the_file_and_is_per_program(acme, globex, alice):
    MessageTemplate.objects.create(
        program=acme, key="reward_granted", channel="email", locale="en", subject="{{ points }} for you", body="Enjoy"
    )
    MessageTemplate.objects.create(
        program=globex, key="reward_granted", channel="email", locale="en", subject="Globex", body="Other"
    )
    message = send_message(customer=alice, channel="email", template_key="reward_granted", context={"points": 7})
    assert (message.subject, message.body) == ("7 for you", "Enjoy")


def test_db_row_in_english_is_the_fallback_before_the_english_file(acme, alice):
    alice.locale = "ms"
    alice.save()
    MessageTemplate.objects.create(program=acme, key="generic", channel="sms", locale="en", body="DB {{ body }}")
    assert render_message(acme, "generic", "sms", "ms", {"body": "x"}).body == "DB x"


def test_context_is_not_html_escaped(acme):
    rendered = render_message(acme, "generic", "sms", "en", {"body": "Tom & Jerry's <shop>"})
    assert rendered.body == "Tom & Jerry's <shop>"


def test_unknown_template_raises_on_render_and_is_skipped_on_send(acme, alice):
    with pytest.raises(TemplateNotFound):
        render_message(acme, "nope", "email", "en", {})
    message = send_message(customer=alice, channel="email", template_key="nope")
    assert (message.status, message.reason) == ("skipped", "no_template")


@pytest.mark.parametrize("key", ["cart_abandoned", "win_back", "reward_granted"])
@pytest.mark.parametrize("channel", ["email", "sms", "whatsapp", "push"])
@pytest.mark.parametrize("locale", ["en", "ar", "ms"])
def test_shipped_templates_render_in_every_locale(acme, key, channel, locale):
    rendered = render_message(acme, key, channel, locale, {"customer": None, "program": acme})
    assert rendered.locale == locale
    assert rendered.body.count("Acme") == 1
    assert bool(rendered.subject) == (channel in ("email", "push"))


@pytest.mark.parametrize("locale", ["en", "ar", "ms"])
def test_team_notification_email(acme, alice, locale):
    rendered = render_message(
        acme,
        "team_notification",
        "email",
        locale,
        {"program": acme, "customer": alice, "title": "Ticket 48h", "body": "Open"},
    )
    assert rendered.subject == "[Acme] Ticket 48h"
    assert rendered.body.startswith("Open\n\n")
    assert rendered.body.endswith("Alice (alice)")
