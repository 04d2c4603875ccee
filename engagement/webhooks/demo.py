"""Demo data (order 55, after the steps that record webhook events): acme subscribes a local
receiver and the admin log gets delivered, retrying and failed deliveries. Idempotent; never
waits on an unreachable URL."""

from django.test.utils import override_settings
from django.utils import timezone

from engagement.webhooks.delivery import attempt_delivery
from engagement.webhooks.events import record_webhook_event
from engagement.webhooks.models import WebhookEvent, WebhookSubscription
from engagement.webhooks.receiver import LocalReceiver

RECEIVER_HOST = "127.0.0.1"
RECEIVER_PORT = 8765
RECEIVER_URL = f"http://{RECEIVER_HOST}:{RECEIVER_PORT}/hooks"
# Demo only: a fixed, published secret so `manage.py webhook_receiver` can verify out of the box.
DEMO_SECRET = "whsec_demo_acme_local_receiver"
# Port 9 (discard) has no listener here: connection refused at once, no timeout to wait for.
DOWN_URL = "http://127.0.0.1:9/down"
KEY_PREFIX = "demo-webhook-"


def _samples(program):
    ids = list(program.customers.order_by("external_id").values_list("external_id", flat=True)[:6]) or ["cust-0000"]
    pick = [ids[i % len(ids)] for i in range(6)]
    return [
        ("reward.granted", {"customer": pick[0], "points": 150, "reason": "Welcome bonus"}),
        ("tier.changed", {"customer": pick[1], "from": "Silver", "to": "Gold"}),
        ("redemption.completed", {"customer": pick[2], "reward": "RM10 voucher", "points": 1000}),
        ("survey.answered", {"customer": pick[3], "kind": "nps", "score": 9}),
        ("survey.detractor", {"customer": pick[4], "kind": "nps", "score": 3}),
        ("payout.succeeded", {"customer": pick[5], "amount": "25.00", "currency": program.currency}),
        ("points.expired", {"customer": pick[0], "points": 40}),
        (
            "payout.failed",
            {"customer": pick[1], "amount": "10.00", "currency": program.currency, "reason": "invalid_account"},
        ),
        ("campaign.budget_exhausted", {"campaign": "Ramadan double points", "budget_points": 50000}),
    ]


def _start_receiver():
    """Answer like a partner for the duration of the step: 503 for points.expired (so a few
    deliveries show as retrying), 200 otherwise. None when the port is taken (e.g. by
    `manage.py webhook_receiver`, which then gets the deliveries)."""

    def respond(received):
        return 503 if received.header("X-Ganjaran-Event-Type") == "points.expired" else 200

    try:
        return LocalReceiver(host=RECEIVER_HOST, port=RECEIVER_PORT, respond=respond).start()
    except OSError:
        return None


def load_webhook_demo(program, progress):
    receiver_sub, _ = WebhookSubscription.objects.get_or_create(
        program=program,
        url=RECEIVER_URL,
        defaults={"secret": DEMO_SECRET, "description": "Demo: python manage.py webhook_receiver"},
    )
    down_sub, _ = WebhookSubscription.objects.get_or_create(
        program=program,
        url=DOWN_URL,
        defaults={
            "description": "Demo: an endpoint that is down",
            "event_types": ["payout.failed", "payout.succeeded"],
        },
    )
    if WebhookEvent.objects.filter(program=program, idempotency_key__startswith=KEY_PREFIX).exists():
        return  # already loaded
    samples = _samples(program)
    bar = progress(total=len(samples), desc="webhooks")
    receiver = _start_receiver()
    try:
        with override_settings(WEBHOOKS_TIMEOUT_SECONDS=2):
            for number, (event_type, payload) in enumerate(samples):
                event = record_webhook_event(program, event_type, payload, idempotency_key=f"{KEY_PREFIX}{number}")
                # The down endpoint's retry window is already over: its one attempt fails for good.
                event.deliveries.filter(subscription=down_sub).update(retry_until=timezone.now())
                for delivery_id in event.deliveries.values_list("pk", flat=True):
                    attempt_delivery(delivery_id)
                bar.update(1)
    finally:
        bar.close()
        if receiver:
            receiver.stop()
    # Paused, as the automatic pause would after a day of failures: later demo steps don't
    # pile up deliveries to it.
    WebhookSubscription.objects.filter(pk=down_sub.pk).update(
        status=WebhookSubscription.Status.PAUSED, paused_at=timezone.now(), paused_reason="Demo: endpoint is down"
    )
