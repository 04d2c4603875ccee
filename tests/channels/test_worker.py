"""End to end with the real Celery worker process: the email reaches the SMTP sink."""

from django.db import transaction

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
    assert [(m["To"], m["Subject"], m.get_content().strip()) for m in received] == [
        ("alice@example.com", "Your reward", "Thank you, Alice.")
    ]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_id) == ("sent", 1, received[0]["Message-ID"].strip())
