"""Concurrent claims: a message is sent once, and the caps hold across parallel workers."""

import datetime as dt
import threading

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from engagement.channels.delivery import deliver_message
from engagement.channels.models import ContactPolicy, Message
from engagement.channels.sending import send_message
from engagement.channels.sweep import requeue_stuck_messages
from engagement.channels.tasks import deliver_messages_task
from tests.conftest import wait_for


def _in_threads(target, args_list):
    results = [None] * len(args_list)
    barrier = threading.Barrier(len(args_list))

    def run(index, args):
        barrier.wait()
        try:
            results[index] = target(*args)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(args_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _send(customer, key):
    return send_message(
        customer=customer,
        channel="email",
        template_key="generic",
        context={"subject": key, "body": "b"},
        idempotency_key=key,
    )


def _queued_without_a_task(customer, key):
    """A queued message whose delivery task was never enqueued, so that a Celery worker left
    running by an earlier test cannot race the threads of these tests."""
    message = send_message(
        customer=customer,
        channel="email",
        template_key="generic",
        context={"subject": key, "body": "b"},
        idempotency_key=key,
        not_before=timezone.now() + dt.timedelta(days=1),
    )
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(status="queued", send_after=now, due_at=now)
    return message


@pytest.mark.django_db(transaction=True)
def test_one_message_claimed_by_eight_threads_is_sent_once(alice):
    message = _queued_without_a_task(alice, "once")
    results = _in_threads(deliver_message, [(message.pk,)] * 8)
    assert sorted(results, key=str) == [None] * 7 + ["sent"]
    assert [m.subject for m in mail.outbox] == ["once"]
    assert Message.objects.get(pk=message.pk).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_daily_cap_of_one_holds_across_eight_parallel_claims(acme, alice):
    ids = [_queued_without_a_task(alice, f"m{index}").pk for index in range(8)]
    ContactPolicy.objects.create(program=acme, max_per_day=1)  # all eight were queued before the cap

    results = _in_threads(deliver_message, [(message_id,) for message_id in ids])

    assert results.count("sent") == 1
    assert len(mail.outbox) == 1
    assert sorted(Message.objects.values_list("status", "reason")) == [("held", "contact_cap")] * 7 + [("sent", "")]


def test_stuck_sending_message_is_requeued_by_the_sweep(alice, django_capture_on_commit_callbacks):
    start = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        message = _queued_without_a_task(alice, "stuck")
        Message.objects.filter(pk=message.pk).update(status="sending", contact_at=start, attempts=1)
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        assert requeue_stuck_messages() == 0
    with time_machine.travel(start + dt.timedelta(minutes=15), tick=False):
        with django_capture_on_commit_callbacks() as callbacks:
            assert requeue_stuck_messages() == 1
        assert len(callbacks) == 1
        assert deliver_messages_task([message.pk]) == ["sent"]
    assert Message.objects.get(pk=message.pk).attempts == 2


def test_task_enqueued_twice_on_the_real_worker_sends_one_email(celery_worker, mail_sink, alice):
    mail_sink.clear()
    with transaction.atomic():
        message = _send(alice, "twice")
    deliver_messages_task.delay([message.pk])  # a duplicate of the on-commit task

    wait_for(lambda: Message.objects.filter(pk=message.pk, status="sent").exists(), message="sent")
    wait_for(mail_sink.messages, timeout=10, message="email in the sink")
    # let the duplicate task run too: the sweep-style re-delivery finds nothing to do
    deliver_messages_task.delay([message.pk])
    wait_for(_queue_empty, timeout=10, message="queue drained")
    assert [m["Subject"] for m in mail_sink.messages()] == ["twice"]
    assert Message.objects.get(pk=message.pk).attempts == 1


def _queue_empty():
    from config.celery import app

    # Tasks are acked late: a task still running is in kombu's "unacked" hash.
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        return client.llen("messaging") == 0 and client.hlen("unacked") == 0
