"""Gift-card credentials (code, PIN, redemption link) that a provider issued for a
redemption and that we show the customer: kept encrypted at rest.

The key is derived from SECRET_KEY (Fernet, AES-128-CBC + HMAC-SHA256); SECRET_KEY_FALLBACKS
still decrypt what older keys wrote, so a key rotation keeps old codes readable as long as
the old key stays in the fallbacks. A value no key opens reads as no credential (the
customer then contacts support; the provider's order id is kept in clear for that).
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from payouts.providers import get_provider

KINDS = ("code", "pin", "link")


def _fernet(secret: str) -> Fernet:
    digest = hashlib.sha256(f"rewards-credentials:{secret}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(secret) for secret in secrets])


def seal(credentials: list[dict[str, str]]) -> str:
    """Encrypt [{"kind", "label", "value"}, ...]; "" for none."""
    if not credentials:
        return ""
    return _keys().encrypt(json.dumps(credentials).encode()).decode()


def unseal(token: str) -> list[dict[str, str]]:
    """The credentials sealed in `token`, or [] (empty, or no current key opens it)."""
    if not token:
        return []
    try:
        return json.loads(_keys().decrypt(token.encode()))
    except (InvalidToken, ValueError):
        return []


def from_payout(payout) -> list[dict[str, str]]:
    """The credentials in the payout's newest provider answer that carries any."""
    provider = get_provider(payout.program, payout.provider)
    for attempt in payout.provider_attempts.order_by("-id"):
        found = provider.credentials(attempt.response_body)
        if found:
            return [{"kind": c.kind, "label": c.label, "value": c.value} for c in found if c.kind in KINDS]
    return []
