"""Web Push (RFC 8030/8291/8292) with pywebpush: payload encrypted (aes128gcm) to each of the
customer's browser subscriptions, signed with the program's VAPID key from settings.

Payload: JSON {"title": subject, "body": body, "message_id": id}. The message counts as
sent when at least one subscription accepted it; a subscription the push service reports as
gone (404/410) is marked expired. With no WEBPUSH_VAPID_PRIVATE_KEY (the demo) nothing is
sent: the message is logged and recorded as sent with provider id "console-<id>".
"""

import json
import logging

from django.conf import settings
from django.utils import timezone

from engagement.channels.backends import DeliveryResult, PermanentError, TransientError
from engagement.channels.models import PushSubscription

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
TTL_SECONDS = 24 * 3600


class WebPushBackend:
    def __init__(self, *, private_key, subject):
        self.private_key = private_key
        self.subject = subject

    @classmethod
    def from_settings(cls):
        return cls(private_key=settings.WEBPUSH_VAPID_PRIVATE_KEY, subject=settings.WEBPUSH_VAPID_SUBJECT)

    def send(self, message):
        subscriptions = list(PushSubscription.objects.filter(customer_id=message.customer_id, expired_at__isnull=True))
        if not subscriptions:
            raise PermanentError("no active push subscription")
        if not self.private_key:
            logger.info("push (console) to customer %s: %s", message.customer_id, message.body)
            return DeliveryResult(provider_id=f"console-{message.pk}")
        payload = json.dumps({"title": message.subject, "body": message.body, "message_id": message.pk})
        accepted, transient = [], []
        for subscription in subscriptions:
            outcome = self._push(subscription, payload)
            if outcome == "ok":
                accepted.append(subscription)
            elif outcome == "transient":
                transient.append(subscription)
        if accepted:
            PushSubscription.objects.filter(pk__in=[s.pk for s in accepted]).update(last_success_at=timezone.now())
            return DeliveryResult(provider_id=",".join(str(s.pk) for s in accepted)[:255])
        if transient:
            raise TransientError("push service unavailable")
        raise PermanentError("every push subscription was refused or has expired")

    def _push(self, subscription, payload):
        """'ok', 'transient' or 'gone' (the subscription is then marked expired)."""
        from pywebpush import WebPushException, webpush

        try:
            webpush(
                subscription.as_subscription_info(),
                data=payload,
                vapid_private_key=self.private_key,
                vapid_claims={"sub": self.subject},
                timeout=TIMEOUT_SECONDS,
                ttl=TTL_SECONDS,
            )
            return "ok"
        except WebPushException as exc:
            code = exc.response.status_code if exc.response is not None else None
            logger.info("push to subscription %s refused: %s", subscription.pk, code or exc)
            if code in (404, 410):
                PushSubscription.objects.filter(pk=subscription.pk).update(expired_at=timezone.now())
                return "gone"
            if code is None or code == 429 or code >= 500:
                return "transient"
            return "refused"
        except OSError as exc:  # requests' ConnectionError and timeouts derive from OSError
            logger.info("push to subscription %s failed: %s", subscription.pk, exc)
            return "transient"
