import re
from pathlib import Path

from django.db.models import Count

from engagement.webhooks.demo import load_webhook_demo
from engagement.webhooks.management.commands.webhook_receiver import check_delivery
from engagement.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from engagement.webhooks.receiver import Received
from engagement.webhooks.signing import sign
from tests.factories import CustomerFactory
from tests.webhooks.factories import SubscriptionFactory

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


class _Bar:
    def update(self, n):
        pass

    def close(self):
        pass


def _statuses():
    rows = WebhookDelivery.objects.values_list("subscription__url", "status").annotate(n=Count("id"))
    return sorted(rows)


def test_demo_step_leaves_delivered_retrying_and_failed_deliveries_and_is_idempotent(acme):
    CustomerFactory(program=acme, external_id="cust-0000")

    load_webhook_demo(acme, lambda **kwargs: _Bar())
    first = _statuses()
    load_webhook_demo(acme, lambda **kwargs: _Bar())

    assert first == [
        ("http://127.0.0.1:8765/hooks", "delivered", 8),
        ("http://127.0.0.1:8765/hooks", "pending", 1),
        ("http://127.0.0.1:9/down", "failed", 2),
    ]
    assert _statuses() == first
    assert WebhookEvent.objects.count() == 9
    assert dict(WebhookSubscription.objects.values_list("url", "status")) == {
        "http://127.0.0.1:8765/hooks": "active",
        "http://127.0.0.1:9/down": "paused",
    }


def _received(secret, body=b'{"id":"evt_1"}', timestamp=1_000_000, event_id="evt_1"):
    headers = {
        "X-Ganjaran-Timestamp": str(timestamp),
        "X-Ganjaran-Signature": sign([secret], timestamp, body),
        "X-Ganjaran-Event-Id": event_id,
    }
    return Received("/hooks", headers, body)


def test_receiver_checks_signature_staleness_and_replays():
    seen = set()
    now = 1_000_000

    assert check_delivery(_received("s1"), ["s1"], seen, now=now) == (200, "verified")
    assert check_delivery(_received("s1"), ["s1"], seen, now=now) == (200, "duplicate (already processed)")
    assert check_delivery(_received("s2", event_id="evt_2"), ["s1"], seen, now=now)[0] == 400
    assert check_delivery(_received("s1", event_id="evt_3"), ["s1"], seen, now=now + 301)[0] == 400
    assert seen == {"evt_1"}


def test_the_docs_verifier_accepts_a_real_delivery_and_rejects_replays(acme, receiver, record_and_send):
    # The Python block of docs/webhooks.md, run as a partner would run it
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    namespace = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    record_and_send(acme, "reward.granted", {"points": 1})
    [got] = receiver.received
    headers = {key.lower(): value for key, value in got.headers.items()}
    seen = set()

    first = namespace["handle_webhook"](headers, got.body, subscription.secret, seen)
    replay = namespace["handle_webhook"](headers, got.body, subscription.secret, seen)
    forged = namespace["handle_webhook"](headers, got.body.replace(b"1", b"9"), subscription.secret, set())

    assert first == (200, "ok")
    assert replay == (200, "duplicate")
    assert forged == (400, "bad signature or stale timestamp")
    # and the docs' verifier is ours, line for line
    import inspect

    from engagement.webhooks import signing

    assert inspect.getsource(signing.compute_signature) in code
    assert inspect.getsource(signing.verify_signature) in code
