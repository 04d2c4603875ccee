"""The partner verifier printed in docs/webhooks.md, run against real deliveries: it
de-duplicates on the signed event id, not on an unsigned header (issue 13, item 8)."""

import re
from pathlib import Path

import pytest

from tests.webhooks.factories import SubscriptionFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


@pytest.fixture
def handle_webhook():
    text = DOC.read_text()
    section = text.split("## Verifying a delivery (partner side)", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # the documented code, as a partner copies it
    return namespace["handle_webhook"]


def _delivery(acme, receiver, record_and_send):
    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    record_and_send(acme, "reward.granted", {"customer": "alice", "points": 50})
    [got] = receiver.received
    return subscription.secret, {k.lower(): v for k, v in got.headers.items()}, got.body


def test_the_documented_verifier_accepts_once_then_reports_duplicates(acme, receiver, record_and_send, handle_webhook):
    secret, headers, body = _delivery(acme, receiver, record_and_send)
    seen = set()

    assert handle_webhook(headers, body, secret, seen) == (200, "ok")
    assert handle_webhook(headers, body, secret, seen) == (200, "duplicate")
    assert handle_webhook(headers, body, "whsec_wrong", seen)[0] == 400


def test_a_replay_with_a_changed_event_id_header_is_still_a_duplicate(acme, receiver, record_and_send, handle_webhook):
    secret, headers, body = _delivery(acme, receiver, record_and_send)
    seen = set()
    handle_webhook(headers, body, secret, seen)

    # The same signed body replayed within the tolerance, with a made-up (unsigned) header
    replayed = {**headers, "x-ganjaran-event-id": "evt_made_up"}

    assert handle_webhook(replayed, body, secret, seen) == (200, "duplicate")
    assert len(seen) == 1
