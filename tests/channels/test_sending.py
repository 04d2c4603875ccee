"""send_message: the Message row, templates, consent, idempotency, delivery by the task."""

from django.core import mail

from engagement.channels.sending import send_message
from engagement.channels.tasks import deliver_messages_task


def test_email_is_recorded_queued_and_delivered_by_the_task(alice, django_capture_on_commit_callbacks):
    # given alice consents to email; when a message is sent and the transaction commits
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = send_message(
            customer=alice,
            channel="email",
            template_key="generic",
            context={"subject": "Hello", "body": "Hi {{ customer.name }}"},
            source="test",
        )
    assert (message.status, message.reason, message.locale) == ("queued", "", "en")
    assert (message.subject, message.body, message.to_address) == (
        "Hello",
        "Hi {{ customer.name }}",
        "alice@example.com",
    )
    assert len(callbacks) == 1
    assert mail.outbox == []
    # then the delivery task sends it
    assert deliver_messages_task([message.pk]) == ["sent"]
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert [(m.subject, m.body, m.to) for m in mail.outbox] == [
        ("Hello", "Hi {{ customer.name }}", ["alice@example.com"])
    ]
    assert message.provider_id == mail.outbox[0].extra_headers["Message-ID"]
    # and a second delivery of the same task sends nothing more
    assert deliver_messages_task([message.pk]) == [None]
    assert len(mail.outbox) == 1
