"""What providers tell us: delivery reports and customers' inbound messages (Twilio style)."""

import base64
import hashlib
import hmac

from django.utils import timezone

from engagement.channels import consent, delivery
from engagement.channels.models import Channel
from engagement.models import Customer

# Twilio MessageStatus values -> ours; the others (queued, sending, sent, accepted) change nothing.
PROVIDER_STATUSES = {"delivered": "delivered", "read": "delivered", "failed": "failed", "undelivered": "failed"}


def twilio_signature(auth_token, url, params):
    """X-Twilio-Signature: base64(HMAC-SHA1(token, url + each sorted key + value))."""
    payload = url + "".join(f"{key}{value}" for key, value in sorted(params.items()))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def is_valid_signature(auth_token, url, params, signature):
    if not auth_token or not signature:
        return False
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)


def record_status_report(provider_id, provider_status):
    """Apply a delivery report; returns the number of messages that moved (0 if ignored)."""
    status = PROVIDER_STATUSES.get(provider_status.lower())
    if not status or not provider_id:
        return 0
    return delivery.record_provider_status(provider_id, status)


def record_inbound_message(from_address, at=None, body=""):
    """A customer wrote to us. A WhatsApp message ("whatsapp:+...") opens the 24-hour window
    for every customer with that phone (the sending number is shared by all programs).
    A STOP/START keyword (consent.keyword_of) withdraws or gives consent on the channel it
    came by (SMS or WhatsApp). Returns the number of customers updated."""
    channel = Channel.WHATSAPP if from_address.startswith("whatsapp:") else Channel.SMS
    phone = from_address.removeprefix("whatsapp:").strip()
    if not phone:
        return 0
    changed = consent.apply_keyword(phone, channel, body, at=at)
    if channel != Channel.WHATSAPP:
        return changed
    return Customer.objects.filter(phone=phone, erased_at__isnull=True).update(
        last_inbound_message_at=at or timezone.now()
    )
