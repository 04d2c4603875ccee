"""Payouts: requests to pay a customer money or a gift card through a provider, their
attempts and status history, approvals, the program's funding ledger, bulk uploads,
provider webhook receipts, reconciliation runs, and the sandbox provider's own orders.

Only payouts.states moves `Payout.status`; only payouts.funding writes funding balances.
"""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.models import Customer, Program

MONEY = {"max_digits": 14, "decimal_places": 2}


class Method(models.TextChoices):
    GIFT_CARD = "gift_card", _("Gift card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    UPI = "upi", _("UPI")
    PAYPAL = "paypal", _("PayPal")
    VOUCHER = "voucher", _("Voucher")


class Source(models.TextChoices):
    REDEMPTION = "redemption", _("Redemption")
    CAMPAIGN = "campaign", _("Campaign")
    BULK_UPLOAD = "bulk_upload", _("Bulk upload")
    API = "api", _("API")


class Status(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    QUEUED = "queued", _("Queued")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REVERSED = "reversed", _("Reversed")


class Hold(models.TextChoices):
    """Why a payout waits in pending_approval (the review queue shows the reason)."""

    NONE = "", _("None")
    APPROVAL = "approval", _("Above the approval threshold")
    VELOCITY = "velocity", _("Velocity check")
    DAILY_LIMIT = "daily_limit", _("Customer daily limit")
    FUNDS = "funds", _("Insufficient funds")


class Step(models.TextChoices):
    """What processing does next while a payout is `processing`."""

    SUBMIT = "submit", _("Submit the order")
    LOOKUP = "lookup", _("Outcome unknown: look the order up")
    WAIT = "wait", _("Accepted: wait for completion")


class PayoutSettings(models.Model):
    """Per-program payout policy; created with defaults on first use (get_settings)."""

    class SandboxMode(models.TextChoices):
        NORMAL = "normal", _("Normal")
        TRANSIENT = "transient", _("Transient errors (twice), then success")
        PERMANENT = "permanent", _("Permanent rejection")
        TIMEOUT = "timeout", _("Timeout after placing the order")

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="payout_settings")
    default_provider = models.CharField(max_length=40, default="sandbox")
    approval_threshold = models.DecimalField(
        **MONEY, null=True, blank=True, help_text=_("Payouts above this amount wait for approval; empty: none.")
    )
    four_eyes = models.BooleanField(default=False, help_text=_("Approval needs two different staff users."))
    customer_daily_limit = models.DecimalField(
        **MONEY, null=True, blank=True, help_text=_("Total per customer per day before a review hold; empty: none.")
    )
    velocity_max_count = models.PositiveIntegerField(
        default=5, help_text=_("More payouts than this per customer within the window are held for review.")
    )
    velocity_window_minutes = models.PositiveIntegerField(default=60)
    sandbox_mode = models.CharField(max_length=12, choices=SandboxMode.choices, default=SandboxMode.NORMAL)
    sandbox_completion_seconds = models.PositiveIntegerField(
        default=0, help_text=_("Sandbox orders complete this long after they are placed.")
    )

    class Meta:
        verbose_name_plural = "payout settings"

    def __str__(self):
        return f"Payout settings of {self.program}"


class ProviderAccount(models.Model):
    """A program's credentials at a payout provider; blank fields fall back to settings."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="payout_provider_accounts")
    provider = models.CharField(max_length=40)
    base_url = models.URLField(blank=True)
    api_key = models.CharField(max_length=200, blank=True)
    webhook_secret = models.CharField(max_length=200, blank=True)
    funding_source_id = models.CharField(max_length=100, blank=True)
    # Provider-specific settings the adapter's docstring lists (products per method, campaign,
    # account identifiers); never secrets, which have their own fields.
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "provider"], name="payout_provider_account_unique")]

    def __str__(self):
        return f"{self.provider} account of {self.program}"


class FundingAccount(models.Model):
    """The program's prepaid payout funds in one currency. `balance` is what is still
    available: queuing a payout reserves (debits) its amount under a row lock, a payout that
    ends failed/cancelled/reversed releases it. Changed only by payouts.funding."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="funding_accounts")
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(**MONEY, default=Decimal("0"))
    low_balance_threshold = models.DecimalField(**MONEY, default=Decimal("0"))
    low_balance_alerted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "currency"], name="funding_account_unique"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="funding_balance_not_negative"),
        ]

    def __str__(self):
        return f"{self.program} {self.currency} {self.balance}"

    @property
    def is_low(self):
        return self.balance < self.low_balance_threshold


class FundingEntry(models.Model):
    """Append-only funding ledger: top-ups by admins, reservations and releases by payouts."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        ADJUSTMENT = "adjustment", _("Adjustment")
        RESERVE = "reserve", _("Reserved for a payout")
        RELEASE = "release", _("Released by a payout")

    account = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.DecimalField(**MONEY, help_text=_("Signed: credits positive, debits negative."))
    balance_after = models.DecimalField(**MONEY)
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="funding")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "funding entries"
        constraints = [
            # One reservation and at most one release per payout: releasing twice is impossible.
            models.UniqueConstraint(
                fields=["payout", "kind"], condition=Q(kind__in=["reserve", "release"]), name="funding_once_per_payout"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} ({self.created_at:%Y-%m-%d %H:%M})"


class PayoutBatch(models.Model):
    """A CSV bulk upload: created all-or-nothing after every row validated."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="payout_batches")
    filename = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    row_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "payout batches"

    def __str__(self):
        return f"Batch {self.pk} ({self.row_count} rows)"


class Payout(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="payouts")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payouts")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices)
    # Masked destination, safe to show; the full one lives in destination_secret only until
    # the provider has the order (then it is wiped).
    destination = models.JSONField(default=dict)
    destination_secret = models.JSONField(default=dict, blank=True)
    destination_fingerprint = models.CharField(max_length=64, db_index=True)
    provider = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=255)
    # Our reference, sent with every provider call; fixed at creation, before any call.
    reference = models.CharField(max_length=64, unique=True, editable=False)
    provider_reference = models.CharField(max_length=128, blank=True)
    provider_status = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_ref = models.CharField(max_length=128, blank=True)
    batch = models.ForeignKey(PayoutBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_APPROVAL)
    hold = models.CharField(max_length=12, choices=Hold.choices, blank=True, default="")
    # The reason in English (partner API, audit); the admin words it from hold_params in the
    # staff user's language (payouts.hold_reasons). Rows from before hold_params have {}.
    hold_detail = models.CharField(max_length=300, blank=True)
    hold_params = models.JSONField(default=dict, blank=True)
    approvals_required = models.PositiveSmallIntegerField(default=0)
    status_reason = models.CharField(max_length=300, blank=True)
    # Processing bookkeeping (payouts.processing).
    step = models.CharField(max_length=8, choices=Step.choices, default=Step.SUBMIT)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    unknown_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="payout_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["program", "idempotency_key"], name="payout_idempotency_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="payout_status_valid"),
        ]
        # Who may approve or reject payouts waiting for approval (payouts.services checks it).
        permissions = [("approve_payout", "Can approve or reject payouts waiting for approval")]

    def __str__(self):
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"

    @staticmethod
    def new_reference():
        return f"gjp_{uuid.uuid4().hex}"


class PayoutStatusChange(models.Model):
    """Append-only history of every status move (written by payouts.states)."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.payout.reference}: {self.from_status or '∅'} → {self.to_status}"


class PayoutAttempt(models.Model):
    """One call to a provider: what we sent (masked), what came back, how long it took."""

    class Kind(models.TextChoices):
        CREATE = "create", _("Create order")
        LOOKUP = "lookup", _("Look up order")

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="provider_attempts")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    outcome = models.CharField(max_length=16)
    request = models.JSONField(default=dict, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.payout.reference}: {self.kind} {self.outcome}"


class PayoutApproval(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", _("Approve")
        REJECT = "reject", _("Reject")

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["payout", "user"], name="payout_approval_once_per_user")]

    def __str__(self):
        return f"{self.payout.reference}: {self.decision} by {self.user}"


class ProviderWebhookReceipt(models.Model):
    """A verified provider webhook, kept once per (program, provider, event id) so replays are
    no-ops. Per program: the same event posted first to another program's URL (where its
    reference is unknown) must still be applied when it reaches its own program."""

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=128)
    program = models.ForeignKey(Program, on_delete=models.CASCADE)
    payload = models.JSONField(default=dict)
    result = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "provider", "event_id"], name="payout_webhook_once_per_program")
        ]

    def __str__(self):
        return f"{self.provider} {self.event_id}"


class ReconciliationRun(models.Model):
    """Our payouts compared with a provider statement for a period; mismatches listed."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="payout_reconciliations")
    provider = models.CharField(max_length=40)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    matched = models.PositiveIntegerField(default=0)
    mismatches = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.provider} {self.period_start:%Y-%m-%d} – {self.period_end:%Y-%m-%d}"

    @property
    def mismatch_count(self):
        return len(self.mismatches)


class SandboxOrder(models.Model):
    """The built-in sandbox provider's own side: its orders, as a real provider keeps them.

    Keyed by our reference (its `external_id`), so a repeated create returns the same order.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        COMPLETE = "complete", _("Complete")
        FAILED = "failed", _("Failed")
        REVERSED = "reversed", _("Reversed")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64, unique=True)
    order_id = models.CharField(max_length=40, unique=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    placed = models.BooleanField(default=False)
    calls = models.PositiveIntegerField(default=0)
    complete_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.order_id} {self.amount} {self.currency} ({self.state})"


class PayoutReview(Payout):
    """The review queue in the admin ("Payouts waiting for approval"): payouts in
    pending_approval, to approve or reject."""

    class Meta:
        proxy = True
        verbose_name = _("payout waiting for approval")
        verbose_name_plural = _("payouts waiting for approval")


class ProviderProduct(models.Model):
    """A provider's catalogue product (a gift card brand, a charity, a cash rail), mirrored
    by payouts.catalogue from the provider's API. Written only by that module; rewards link
    their catalogue items to these. `active` goes False when the provider stops offering it."""

    class ValueType(models.TextChoices):
        RANGE = "range", _("Any amount in a range")
        FIXED = "fixed", _("Fixed amounts")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="provider_products")
    provider = models.CharField(max_length=40)
    product_id = models.CharField(_("provider's product id"), max_length=64)
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=60, blank=True)
    currency = models.CharField(max_length=3)
    countries = models.JSONField(default=list, blank=True)
    value_type = models.CharField(max_length=5, choices=ValueType.choices)
    min_value = models.DecimalField(**MONEY, null=True, blank=True)
    max_value = models.DecimalField(**MONEY, null=True, blank=True)
    face_values = models.JSONField(default=list, blank=True, help_text=_("Fixed amounts, as strings."))
    image_url = models.URLField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    terms = models.TextField(blank=True)
    instructions = models.TextField(_("how to redeem"), blank=True)
    active = models.BooleanField(default=True)
    synced_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now, help_text=_("When its values last changed."))

    class Meta:
        ordering = ["provider", "brand", "name"]
        verbose_name = _("provider product")
        constraints = [
            models.UniqueConstraint(fields=["program", "provider", "product_id"], name="provider_product_unique"),
        ]

    def __str__(self):
        return f"{self.name} ({self.currency}, {self.provider})"

    def accepts(self, amount):
        """True when the provider sells this product at `amount` (Decimal) today."""
        if not self.active:
            return False
        if self.value_type == self.ValueType.FIXED:
            return any(Decimal(value) == amount for value in self.face_values)
        return (self.min_value is None or amount >= self.min_value) and (
            self.max_value is None or amount <= self.max_value
        )
