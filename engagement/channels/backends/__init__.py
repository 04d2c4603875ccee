"""Channel backends: one small interface, one module per provider.

A backend is an object with `send(message) -> DeliveryResult` that either returns (the
provider accepted the message) or raises TransientError (worth retrying later: network,
timeouts, 429, 5xx) or PermanentError (never retry: invalid number, 4xx, unsubscribed).
`message` is an engagement.channels.models.Message with `to_address`, `subject`, `body`.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryResult:
    provider_id: str = ""
    # "sent" (accepted by the provider) or "delivered" (the provider confirmed delivery).
    status: str = "sent"


class DeliveryError(Exception):
    pass


class TransientError(DeliveryError):
    pass


class PermanentError(DeliveryError):
    pass


def get_backend(channel):
    """The backend instance for a channel (email, sms, whatsapp, push)."""
    if channel == "email":
        from engagement.channels.backends.email import EmailBackend

        return EmailBackend()
    if channel in ("sms", "whatsapp"):
        from engagement.channels.backends.twilio import TwilioBackend

        return TwilioBackend.from_settings(channel)
    if channel == "push":
        from engagement.channels.backends.webpush import WebPushBackend

        return WebPushBackend.from_settings()
    raise PermanentError(f"Unknown channel {channel!r}")
