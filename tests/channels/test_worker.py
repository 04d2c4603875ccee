"""End to end with the real Celery worker process: the email reaches the SMTP sink."""

from django.conf import settings
from django.db import transaction

from engagement.channels import consent
from engagement.channels.models import Message
from engagement.channels.sending import send_message
from tests.conftest import wait_for


def test_worker_delivers_email_to_the_smtp_sink(celery_worker, mail_sink, alice):
    mail_sink.clear()
    with transaction.atomic():
        message = send_message(
            customer=alice,
            channel="email",
            template_key="generic",
            context={"subject": "Your reward", "body": "Thank you, Alice."},
            source="test:worker",
        )

    def sent():
        return Message.objects.filter(pk=message.pk, status="sent").exists()

    wait_for(sent, timeout=30, message="message sent by the worker")
    received = wait_for(mail_sink.messages, timeout=10, message="email in the sink")
    # A marketing email: the visible preference link and RFC 8058 headers arrive over SMTP.
    token = consent.preferences_token(alice)
    assert [(m["To"], m["Subject"], m.get_content().replace("\r\n", "\n").strip()) for m in received] == [
        (
            "alice@example.com", "Your reward",
            f"Thank you, Alice.\n\n--\nUnsubscribe or choose what we send you: {settings.SITE_URL}/portal/preferences/{token}/",
        )
    ]  # fmt: skip
    assert received[0]["List-Unsubscribe"].strip() == f"<{settings.SITE_URL}/portal/unsubscribe/{token}/>"
    assert received[0]["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"
    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_id) == ("sent", 1, received[0]["Message-ID"].strip())
