"""The provider interface every adapter implements, and the values it speaks in.

An adapter never touches our Payout rows: it turns an OrderRequest into a call to the
provider and the answer into a ProviderResult whose `outcome` processing acts on:

- pending    the provider has the order; completion comes later (webhook or lookup);
- succeeded / failed / cancelled / reversed   the order's final state at the provider;
- transient  the order was certainly NOT placed (connection refused, 429): retry later;
- unknown    it may have been placed (timeout, 5xx, garbled answer): look it up by our
             reference before anything else, never order again blindly;
- not_found  (lookups only) the provider has no order with our reference.
"""

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class Outcome:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REVERSED = "reversed"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"
    FINAL = ("succeeded", "failed", "cancelled", "reversed")


@dataclass
class OrderRequest:
    reference: str
    amount: Decimal
    currency: str
    method: str
    destination: dict
    recipient_name: str = ""
    recipient_email: str = ""


@dataclass
class ProviderResult:
    outcome: str
    provider_reference: str = ""
    provider_status: str = ""
    error: str = ""
    response_code: int | None = None
    response_body: str = ""
    request: dict = field(default_factory=dict)
    duration_ms: int = 0
    # The gift-card code/PIN/link the answer carried: handed to the payout's credential
    # handlers (kept encrypted on the redemption), never stored with the attempt.
    credentials: list["Credential"] = field(default_factory=list)
    # Filled by the sandbox when it raises the webhook itself, for tests and the demo.
    amount: Decimal | None = None


@dataclass
class Credential:
    """What the recipient needs to use a gift card the provider issued to us (not emailed by
    the provider): `kind` is "code", "pin" or "link"; `label` is the provider's name for it."""

    kind: str
    label: str
    value: str


@dataclass
class WebhookUpdate:
    """One verified status change from a provider webhook."""

    event_id: str
    reference: str
    outcome: str
    provider_reference: str = ""
    provider_status: str = ""


@dataclass
class StatementLine:
    reference: str
    provider_reference: str
    amount: Decimal
    currency: str
    outcome: str
    created_at: datetime | None = None


class WebhookSignatureError(Exception):
    """The webhook's signature is missing, wrong or stale: reject it, change nothing."""


class ProviderUnavailable(Exception):
    """A provider read (statement, catalogue) failed: down, refused or garbled. Try again later."""


class WebhookLookupError(Exception):
    """The webhook is genuine but what it points at could not be read from the provider now:
    answer 503 so the provider delivers it again later; change nothing."""


REDACTED = "[redacted]"


def redact(data, secret_fields):
    """`data` (parsed JSON) with the value of every key named in `secret_fields`, at any
    depth, replaced by REDACTED (empty values are left as they are: nothing to hide)."""
    if isinstance(data, dict):
        return {
            key: REDACTED if key in secret_fields and value not in (None, "", [], {}) else redact(value, secret_fields)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(value, secret_fields) for value in data]
    return data


def hmac_sha256_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signatures_match(expected, given):
    return bool(given) and hmac.compare_digest(expected, given)


class PayoutProvider:
    """Base class: adapters set `name` and implement the three calls (+ statement)."""

    name = ""

    # The keys of this provider's documented answers (and webhook bodies) whose values are
    # secret or personal: gift-card codes, PINs and links, recipients, account numbers,
    # tokens. Every stored copy of an answer (PayoutAttempt.response_body, a webhook
    # receipt's payload) has them replaced by REDACTED; see http.stored_body.
    secret_fields: frozenset[str] = frozenset()

    def __init__(self, program, account=None):
        self.program = program
        self.account = account

    @property
    def guarded(self) -> bool:
        """True when the base URL is the account's (set in the admin): outbound calls then
        reach only public addresses (SSRF); the settings' default URL is the operator's own."""
        return bool(self.account and self.account.base_url)

    def create(self, order: OrderRequest) -> ProviderResult:
        """Place the order under `order.reference` (the provider's idempotency key)."""
        raise NotImplementedError

    # True when the provider has no lookup by our reference but deduplicates a create by it
    # (PayPal's sender_batch_id): processing then resolves an unknown outcome by sending
    # the same order again rather than by fetch_status.
    lookup_by_create = False

    def fetch_status(self, reference: str, provider_reference: str = "") -> ProviderResult:
        """Look the order up by OUR reference (or the provider's, once known)."""
        raise NotImplementedError

    def verify_webhook(self, headers, body: bytes) -> list[WebhookUpdate]:
        """Check the signature over the raw body and parse it; raise WebhookSignatureError."""
        raise NotImplementedError

    def credentials(self, data) -> list[Credential]:
        """The gift-card code, PIN or link in one answer (parsed JSON of a create or a
        lookup); [] when it carries none (emailed by the provider, or not yet issued)."""
        return []

    def statement(self, start, end) -> list[StatementLine]:
        """The provider's record of orders placed in [start, end), for reconciliation."""
        raise NotImplementedError(f"{self.name} provides no statement")
