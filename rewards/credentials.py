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


def keep_payout_credentials(payout_id: int, found: list[dict[str, str]]) -> None:
    """payouts credential hook: seal what the provider issued on the payout's redemption
    (the provider's answer itself is stored redacted). Shown once the redemption is
    completed; a failed redemption drops it."""
    from rewards.models import Redemption

    kept = [c for c in found if c.get("kind") in KINDS]
    if kept:
        Redemption.objects.filter(payout_id=payout_id).update(credentials_sealed=seal(kept))
