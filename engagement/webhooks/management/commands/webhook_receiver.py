"""A partner's endpoint for trying webhooks locally: prints every delivery it verifies.

python manage.py webhook_receiver            # 127.0.0.1:8765, secrets from the DB
python manage.py webhook_receiver --status 500   # answer 500 to watch retries
"""

import json
import threading
import time

from django.core.management.base import BaseCommand

from engagement.webhooks import signing
from engagement.webhooks.demo import RECEIVER_HOST, RECEIVER_PORT
from engagement.webhooks.models import WebhookSubscription
from engagement.webhooks.receiver import LocalReceiver


def check_delivery(received, secrets, seen_event_ids, now=None):
    """The partner's checks, in order: signature with a known secret and a fresh timestamp
    (5 minutes), then replay (an event id already processed). Returns (status, verdict)."""
    timestamp = received.header(signing.TIMESTAMP_HEADER) or ""
    signature = received.header(signing.SIGNATURE_HEADER) or ""
    if not any(signing.verify_signature(secret, received.body, timestamp, signature, now=now) for secret in secrets):
        return 400, "REJECTED (bad signature or stale timestamp)"
    event_id = received.header(signing.EVENT_ID_HEADER)
    if event_id in seen_event_ids:
        # Still 2xx: the sender must stop retrying something we already have.
        return 200, "duplicate (already processed)"
    seen_event_ids.add(event_id)
    return 200, "verified"


class Command(BaseCommand):
    help = "Run a local webhook receiver that verifies signatures and prints deliveries."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=RECEIVER_HOST)
        parser.add_argument("--port", type=int, default=RECEIVER_PORT)
        parser.add_argument(
            "--secret",
            action="append",
            default=[],
            help="Signing secret (repeatable). Default: the secrets of subscriptions pointing at this receiver.",
        )
        parser.add_argument("--status", type=int, default=None, help="Answer verified deliveries with this status.")

    def handle(self, *args, host, port, secret, status, **options):
        prefix = f"http://{host}:{port}/"
        secrets = secret or [
            s
            for subscription in WebhookSubscription.objects.filter(url__startswith=prefix)
            for s in subscription.signing_secrets()
        ]
        if not secrets:
            self.stderr.write(f"No --secret given and no subscription points at {prefix}.")
            return
        seen, lock = set(), threading.Lock()

        def respond(received):
            with lock:
                code, verdict = check_delivery(received, secrets, seen)
            if status is not None and code == 200:
                code = status
            body = json.loads(received.body or b"{}")
            self.stdout.write(
                f"{time.strftime('%H:%M:%S')} {code} {verdict}: {body.get('id')} {body.get('type')} "
                f"attempt {received.header(signing.ATTEMPT_HEADER)} {json.dumps(body.get('data'))[:200]}"
            )
            return code

        receiver = LocalReceiver(host=host, port=port, respond=respond).start()
        self.stdout.write(f"Receiving webhooks at {receiver.url()} ({len(secrets)} secret(s)); Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            receiver.stop()
