import json
from datetime import UTC, datetime, timedelta

import time_machine
from django.core import mail
from django.utils import timezone

from engagement.models import ProgramStaff
from engagement.webhooks import signing
from engagement.webhooks.delivery import attempt_delivery, backoff_seconds, resend_deliveries
from engagement.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from engagement.webhooks.signing import verify_signature
from tests.webhooks.factories import SubscriptionFactory

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_delivery_is_a_signed_json_post_that_verifies(acme, receiver, record_and_send):
    subscription = SubscriptionFactory(program=acme, url=receiver.url("/partner/hooks"))

    with time_machine.travel(T0, tick=False):
        event = record_and_send(acme, "reward.granted", {"customer": "alice", "points": 50})

    [got] = receiver.received
    assert got.path == "/partner/hooks"
    assert json.loads(got.body) == {
        "id": event.event_id,
        "type": "reward.granted",
        "created_at": "2026-03-02T09:00:00+00:00",
        "program": "acme",
        "data": {"customer": "alice", "points": 50},
    }
    assert got.header("Content-Type") == "application/json"
    assert got.header(signing.EVENT_ID_HEADER) == event.event_id
    assert got.header(signing.EVENT_TYPE_HEADER) == "reward.granted"
    assert got.header(signing.TIMESTAMP_HEADER) == str(int(T0.timestamp()))
    assert got.header(signing.ATTEMPT_HEADER) == "1"
    timestamp, signature = got.header(signing.TIMESTAMP_HEADER), got.header(signing.SIGNATURE_HEADER)
    now = T0.timestamp()
    assert verify_signature(subscription.secret, got.body, timestamp, signature, now=now) is True
    # a tampered body, a wrong secret, a changed timestamp or a stale delivery all fail
    tampered = got.body.replace(b"50", b"5000")
    assert verify_signature(subscription.secret, tampered, timestamp, signature, now=now) is False
    assert verify_signature("whsec_wrong", got.body, timestamp, signature, now=now) is False
    assert verify_signature(subscription.secret, got.body, str(int(now) + 1), signature, now=now) is False
    assert verify_signature(subscription.secret, got.body, timestamp, signature, now=now + 301) is False
    assert verify_signature(subscription.secret, got.body, timestamp, signature, now=now + 300) is True

    delivery = event.deliveries.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == ("delivered", 1, 200)
    attempt = delivery.attempts.get()
    assert (attempt.number, attempt.status_code, attempt.succeeded, attempt.response_excerpt, attempt.error) == (
        1,
        200,
        True,
        "ok",
        "",
    )


def test_receiver_answering_500_three_times_then_200_gets_it_delivered_exactly_once(
    acme, receiver, record_and_send, run_beat
):
    receiver.statuses = [500, 500, 500, 200]
    SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        event = record_and_send(acme, "payout.failed", {"payout": 7})
        delivery = event.deliveries.get()
        for _ in range(3):  # beat releases each retry when its backoff has passed
            delivery.refresh_from_db()
            clock.move_to(delivery.next_attempt_at)
            assert run_beat() == [delivery.pk]
        # once delivered, nothing is due any more
        clock.move_to(T0 + timedelta(days=2))
        assert run_beat() == []

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("delivered", 4)
    assert [r.status for r in receiver.received] == [500, 500, 500, 200]
    assert list(delivery.attempts.order_by("number").values_list("number", "status_code", "succeeded")) == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 200, True),
    ]
    # the same event id every time: the partner de-duplicates on it
    assert {r.header(signing.EVENT_ID_HEADER) for r in receiver.received} == {event.event_id}
    assert [r.header(signing.ATTEMPT_HEADER) for r in receiver.received] == ["1", "2", "3", "4"]


def test_retries_follow_exponential_backoff_with_jitter(acme, receiver, record_and_send, settings):
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOKS_BACKOFF_MAX_SECONDS = 3600
    receiver.statuses = [503]
    SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        event = record_and_send(acme, "points.expired", {"points": 10})
        delivery = event.deliveries.get()
        delays = []
        for number in range(1, 6):
            delivery.refresh_from_db()
            delay = (delivery.next_attempt_at - timezone.now()).total_seconds()
            assert delay == backoff_seconds(number, delivery.pk)
            delays.append(delay)
            # a message that arrives before the backoff has passed does nothing
            clock.shift(delay - 1)
            assert attempt_delivery(delivery.pk) is None
            clock.shift(1)
            assert attempt_delivery(delivery.pk).number == number + 1

    nominal = [30, 60, 120, 240, 480]
    assert all(n <= d <= n * 1.25 for n, d in zip(nominal, delays, strict=True))
    assert len(receiver.received) == 6


def test_backoff_is_capped():
    assert 3600 <= backoff_seconds(30, 1) <= 4500
    assert backoff_seconds(3, 9) == backoff_seconds(3, 9)  # reproducible per (delivery, attempt)


def test_a_delivery_failing_for_24_hours_is_marked_failed(acme, receiver, record_and_send, run_beat):
    receiver.statuses = [500]
    SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        event = record_and_send(acme, "redemption.failed", {"redemption": 3})
        delivery = event.deliveries.get()
        while True:
            delivery.refresh_from_db()
            if delivery.status != "pending":
                break
            clock.move_to(delivery.next_attempt_at)
            run_beat()

    attempts = list(delivery.attempts.order_by("number"))
    assert delivery.status == "failed"
    assert len(attempts) == len(receiver.received) == delivery.attempt_count
    # retried for at least 24 hours, never more than one capped backoff past that
    last = attempts[-1].started_at
    assert T0 + timedelta(hours=24) <= last <= T0 + timedelta(hours=24, seconds=4500)
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert max(gaps) <= 4500
    assert gaps == sorted(gaps[:8]) + gaps[8:]  # growing until the cap


def test_a_timeout_is_a_failed_attempt_that_is_retried(acme, receiver, record_and_send, settings):
    import time

    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.respond = lambda _received: time.sleep(1.5) or 200
    SubscriptionFactory(program=acme, url=receiver.url())

    event = record_and_send(acme, "survey.answered", {"score": 9})

    delivery = event.deliveries.get()
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.succeeded, attempt.error) == (None, False, "timeout after 0.3 s")
    assert (delivery.status, delivery.last_error) == ("pending", "timeout after 0.3 s")


def test_an_unreachable_endpoint_is_a_failed_attempt(acme, record_and_send):
    from engagement.webhooks.receiver import LocalReceiver

    closed = LocalReceiver().start()
    closed.stop()  # nothing listens on this port any more
    SubscriptionFactory(program=acme, url=closed.url())

    event = record_and_send(acme, "survey.detractor", {"score": 2})

    attempt = event.deliveries.get().attempts.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("connection error:")


def test_a_redirect_is_not_a_delivery(acme, receiver, record_and_send):
    receiver.statuses = [302]
    SubscriptionFactory(program=acme, url=receiver.url())

    event = record_and_send(acme, "tier.changed", {"to": "gold"})

    delivery = event.deliveries.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_rotation_sends_both_signatures_until_the_old_secret_retires(acme, receiver, record_and_send, settings):
    from engagement.webhooks.subscriptions import rotate_secret

    settings.WEBHOOKS_ROTATION_OVERLAP_HOURS = 24
    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    old_secret = subscription.secret

    with time_machine.travel(T0, tick=False) as clock:
        new_secret = rotate_secret(subscription).secret
        record_and_send(acme, "reward.granted", {"n": 1})
        clock.move_to(T0 + timedelta(hours=24, seconds=1))
        record_and_send(acme, "reward.granted", {"n": 2})

    during, after = receiver.received
    header = during.header(signing.SIGNATURE_HEADER)
    assert header.count("v1=") == 2
    assert header.split(",")[0] == "v1=" + signing.compute_signature(
        new_secret, during.header("X-Ganjaran-Timestamp"), during.body
    )
    for secret in (new_secret, old_secret):
        assert verify_signature(
            secret, during.body, during.header(signing.TIMESTAMP_HEADER), header, now=T0.timestamp()
        )
    later = (T0 + timedelta(hours=24, seconds=1)).timestamp()
    assert after.header(signing.SIGNATURE_HEADER).count("v1=") == 1
    assert verify_signature(
        new_secret,
        after.body,
        after.header(signing.TIMESTAMP_HEADER),
        after.header(signing.SIGNATURE_HEADER),
        now=later,
    )
    assert not verify_signature(
        old_secret,
        after.body,
        after.header(signing.TIMESTAMP_HEADER),
        after.header(signing.SIGNATURE_HEADER),
        now=later,
    )


def test_a_lost_broker_message_is_delivered_by_the_sweep(acme, receiver, run_beat, settings):
    from engagement.webhooks.events import record_webhook_event

    settings.WEBHOOKS_REQUEUE_AFTER_SECONDS = 300
    SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        # Given an event whose on-commit message never reaches a worker (in a `db` test the
        # on-commit callback never runs: the message is lost)
        event = record_webhook_event(acme, "payout.succeeded", {"payout": 1})
        # the sweep leaves it alone while its message may still be on its way
        clock.shift(299)
        assert run_beat() == []
        assert receiver.received == []
        # When the message is overdue, the sweep sends it again
        clock.shift(2)
        assert run_beat() == [event.deliveries.get().pk]

    assert [r.header(signing.EVENT_ID_HEADER) for r in receiver.received] == [event.event_id]
    assert event.deliveries.get().status == "delivered"


def test_the_sweep_hands_back_a_delivery_whose_worker_died(acme, receiver, run_beat, settings):
    from engagement.webhooks.events import record_webhook_event

    settings.WEBHOOKS_CLAIM_TIMEOUT_SECONDS = 300
    SubscriptionFactory(program=acme, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        event = record_webhook_event(acme, "payout.succeeded", {"payout": 1})
        delivery = event.deliveries.get()
        # a worker claimed it and died before recording anything
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status="in_flight", claimed_at=T0)
        clock.shift(300)
        assert run_beat() == []  # not yet: that worker may still be waiting for the partner
        clock.shift(1)
        assert run_beat() == [delivery.pk]

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("delivered", 1)
    assert len(receiver.received) == 1


def test_duplicate_messages_deliver_once(acme, receiver, record_and_send):
    SubscriptionFactory(program=acme, url=receiver.url())
    event = record_and_send(acme, "reward.granted", {})
    delivery = event.deliveries.get()

    assert attempt_delivery(delivery.pk) is None
    assert attempt_delivery(123456789) is None  # a leftover id of a deleted delivery

    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_subscription_that_keeps_failing_is_paused_and_its_team_emailed(
    acme, globex, receiver, record_and_send, run_beat, settings, django_user_model, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_PAUSE_AFTER_FAILURES = 3
    settings.WEBHOOKS_PAUSE_AFTER_HOURS = 1
    receiver.statuses = [500]
    staff = django_user_model.objects.create_user("siti", "siti@acme.example", "pw", is_staff=True)
    ProgramStaff.objects.create(program=acme, user=staff)
    other = django_user_model.objects.create_user("gus", "gus@globex.example", "pw", is_staff=True)
    ProgramStaff.objects.create(program=globex, user=other)
    subscription = SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        event = record_and_send(acme, "reward.granted", {})
        delivery = event.deliveries.get()
        # three failures in a row, but within the hour: still active
        for _ in range(2):
            delivery.refresh_from_db()
            clock.move_to(delivery.next_attempt_at)
            run_beat()
        subscription.refresh_from_db()
        assert (subscription.status, subscription.consecutive_failures) == ("active", 3)
        clock.move_to(T0 + timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True):
            run_beat()

    subscription.refresh_from_db()
    assert (subscription.status, subscription.consecutive_failures) == ("paused", 4)
    assert subscription.paused_reason == "Paused automatically: deliveries kept failing."
    [email] = mail.outbox
    assert email.to == ["siti@acme.example"]
    assert email.subject == "[Ganjaran] Webhook paused for Acme"
    assert receiver.url() in email.body
    # paused: the retry waits, and new events create no deliveries for it
    delivery.refresh_from_db()
    with time_machine.travel(delivery.next_attempt_at, tick=False):
        assert run_beat() == []
        assert attempt_delivery(delivery.pk) is None
        assert record_and_send(acme, "reward.granted", {}).deliveries.count() == 0
    assert len(receiver.received) == 4


def test_a_success_resets_the_failure_streak(acme, receiver, record_and_send, run_beat):
    receiver.statuses = [500, 200]
    subscription = SubscriptionFactory(program=acme, url=receiver.url())

    with time_machine.travel(T0, tick=False) as clock:
        delivery = record_and_send(acme, "reward.granted", {}).deliveries.get()
        subscription.refresh_from_db()
        assert (subscription.consecutive_failures, subscription.failing_since) == (1, T0)
        clock.move_to(WebhookDelivery.objects.get(pk=delivery.pk).next_attempt_at)
        run_beat()

    subscription.refresh_from_db()
    assert (subscription.consecutive_failures, subscription.failing_since) == (0, None)


def test_resume_delivers_what_waited(acme, receiver, django_capture_on_commit_callbacks):
    from engagement.webhooks.events import record_webhook_event
    from engagement.webhooks.subscriptions import pause_subscription, resume_subscription
    from engagement.webhooks.tasks import deliver_webhooks_task

    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    delivery = record_webhook_event(acme, "reward.granted", {}).deliveries.get()
    pause_subscription(subscription, "maintenance")
    assert attempt_delivery(delivery.pk) is None

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert resume_subscription(subscription) == 1
    assert len(callbacks) == 1
    deliver_webhooks_task([delivery.pk])

    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "delivered"
    assert WebhookSubscription.objects.get(pk=subscription.pk).status == "active"


def test_resend_delivers_a_delivered_event_again(acme, receiver, record_and_send, django_capture_on_commit_callbacks):
    from engagement.webhooks.tasks import deliver_webhooks_task

    SubscriptionFactory(program=acme, url=receiver.url())
    delivery = record_and_send(acme, "reward.granted", {}).deliveries.get()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert resend_deliveries([delivery.pk]) == 1
    assert len(callbacks) == 1
    deliver_webhooks_task([delivery.pk])

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("delivered", 2)
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body


def test_two_workers_racing_for_one_delivery_post_it_once(transactional_db, receiver):
    import threading

    from django.db import connection

    from tests.factories import ProgramFactory

    acme = ProgramFactory(slug="acme")
    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    # Rows only, no broker message (a session worker of other tests might take it first)
    event = WebhookEvent.objects.create(program=acme, type="reward.granted", payload={})
    delivery = WebhookDelivery.objects.create(
        program=acme, event=event, subscription=subscription, retry_until=timezone.now() + timedelta(hours=24)
    )
    start = threading.Barrier(2)
    results = []

    def worker():
        start.wait()
        try:
            results.append(attempt_delivery(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(result is None for result in results) == [False, True]
    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1
