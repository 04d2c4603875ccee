"""Webhook signatures: how we sign a delivery, and how a partner verifies one.

Header `X-Ganjaran-Signature: v1=<hex>[,v1=<hex>]` where each hex is
HMAC-SHA256(secret, f"{timestamp}.{body}") and `X-Ganjaran-Timestamp` is Unix seconds.
During a secret rotation there are two `v1=` values (new first, then old).

`verify_signature` uses only the standard library on purpose: docs/webhooks.md shows it
for partners to copy, and the tests verify real deliveries with the very same function.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Ganjaran-Signature"
TIMESTAMP_HEADER = "X-Ganjaran-Timestamp"
EVENT_ID_HEADER = "X-Ganjaran-Event-Id"
EVENT_TYPE_HEADER = "X-Ganjaran-Event-Type"
ATTEMPT_HEADER = "X-Ganjaran-Delivery-Attempt"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def compute_signature(secret: str, timestamp: str | int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secrets: list[str], timestamp: str | int, body: bytes) -> str:
    """The signature header value for `body` at `timestamp`, one `v1=` per secret."""
    return ",".join(f"{SCHEME}={compute_signature(secret, timestamp, body)}" for secret in secrets)


def verify_signature(
    secret: str,
    body: bytes,
    timestamp: str,
    signature_header: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when one `v1=` signature in the header matches `secret` and the timestamp is
    no more than `tolerance_seconds` away from now (stale or future deliveries are refused,
    which bounds replays; reject repeated event ids as well, see docs/webhooks.md)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance_seconds:
        return False
    expected = compute_signature(secret, sent_at, body)
    candidates = [part.strip() for part in (signature_header or "").split(",")]
    # compare_digest against every candidate: constant time, and any one may match.
    return any(
        hmac.compare_digest(value, expected)
        for scheme, _, value in (candidate.partition("=") for candidate in candidates)
        if scheme == SCHEME
    )
