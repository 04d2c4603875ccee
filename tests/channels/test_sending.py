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
            transactional=True,  # an account message: no unsubscribe footer (see test_consent.py)
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


def test_erasure_blanks_content_and_drops_pending_messages(alice, status_log):
    from engagement.channels.erasure import erase_customer_messages
    from engagement.channels.models import Message, PushSubscription

    sent = send_message(customer=alice, channel="email", template_key="win_back")
    deliver_messages_task([sent.pk])
    pending = send_message(customer=alice, channel="email", template_key="win_back")
    PushSubscription.objects.create(
        program=alice.program, customer=alice, endpoint="https://p.example/1", p256dh="k", auth="a"
    )

    assert erase_customer_messages(alice) == 1
    assert erase_customer_messages(alice) == 0

    rows = {m.pk: (m.status, m.reason, m.to_address, m.subject, m.body) for m in Message.objects.all()}
    assert rows == {sent.pk: ("sent", "", "", "", ""), pending.pk: ("dropped", "erased", "", "", "")}
    assert PushSubscription.objects.count() == 0
    assert status_log == [(sent.pk, "sent"), (pending.pk, "dropped")]


def test_messages_of_one_transaction_are_enqueued_as_one_batch(alice, bob, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            first = send_message(customer=alice, channel="email", template_key="win_back")
            try:
                with transaction.atomic():  # a savepoint rolled back: its message is gone
                    send_message(customer=bob, channel="email", template_key="win_back")
                    raise RuntimeError
            except RuntimeError:
                pass
            second = send_message(customer=bob, channel="email", template_key="win_back")
    [flush] = callbacks
    assert flush.__self__.ids == [first.pk, first.pk + 1, second.pk]
    # the rolled-back id is ignored by the task
    assert deliver_messages_task(flush.__self__.ids) == ["sent", None, "sent"]


def test_batch_survives_a_rolled_back_savepoint_that_started_it(alice, bob, django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    send_message(customer=alice, channel="email", template_key="win_back")
                    raise RuntimeError
            except RuntimeError:
                pass
            kept = send_message(customer=bob, channel="email", template_key="win_back")
    assert [callback.__self__.ids for callback in callbacks] == [[kept.pk]]
