"""Rewards data: points accounts, the append-only ledger, lots, catalogue, voucher codes,
redemptions, tiers, referrals and portal sign-in tokens.

Only rewards.ledger writes LedgerEntry, PointsAccount balances and PointsLot remainders.
Invariants (checked by `manage.py verify_ledger`):
- account.balance == sum(entry.points) and account.pending == sum(entry.pending_points);
- both >= 0 (database CHECKs);
- sum(remaining of available lots) == balance, sum(remaining of pending lots) == pending;
- every `redeem` entry points at a Redemption of the same customer.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import FileExtensionValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from engagement.models import Customer, Program
from engagement.state_machine import StatusChange


class ExpiryRounding(models.TextChoices):
    NONE = "none", _("Exact time")
    DAY = "day", _("End of the day")
    MONTH = "month", _("End of the month")


class RewardsSettings(models.Model):
    """Per-program rewards settings; created with defaults on first use (get_for)."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="rewards_settings")
    points_validity_days = models.PositiveIntegerField(
        default=365, help_text=_("Earned points expire after this many days; 0 = never.")
    )
    expiry_rounding = models.CharField(max_length=8, choices=ExpiryRounding.choices, default=ExpiryRounding.MONTH)
    return_window_days = models.PositiveIntegerField(
        default=14, help_text=_("Purchase points stay pending this long; 0 = spendable at once.")
    )
    points_per_currency_unit = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("1"), validators=[MinValueValidator(0)]
    )
    tier_window_days = models.PositiveIntegerField(default=365, help_text=_("Rolling window for tier points."))
    tier_review_months = models.PositiveIntegerField(
        default=12, help_text=_("A tier is kept at least this long; downgrades happen only at the review date.")
    )
    expiring_soon_days = models.PositiveIntegerField(default=30)
    referral_points = models.PositiveIntegerField(default=200, help_text=_("Points for a converted referral."))
    # The referral programme (rewards.referrals): what the friend gets, what qualifies, and
    # the fraud limits. A friend qualifies with their first purchase of at least the minimum.
    referee_points = models.PositiveIntegerField(
        default=100, help_text=_("Points a referred friend gets when their first qualifying purchase arrives.")
    )
    referral_min_purchase = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)],
        help_text=_("A friend's purchase qualifies from this value (program currency)."),
    )  # fmt: skip
    referral_cap = models.PositiveIntegerField(
        default=10, help_text=_("At most this many friends per referrer per period; 0 = no cap.")
    )
    referral_cap_days = models.PositiveIntegerField(default=30, help_text=_("The period of the cap, in days."))
    referral_velocity_per_hour = models.PositiveIntegerField(
        default=3, help_text=_("At most this many friends per referrer in one hour; 0 = no limit.")
    )
    brand_colour = models.CharField(
        max_length=7, default="#0b6e4f", validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$")],
        help_text=_("The program's colour on public portal pages (referral landing, preferences)."),
    )  # fmt: skip

    class Meta:
        verbose_name_plural = "rewards settings"

    def __str__(self):
        return f"Rewards settings of {self.program}"

    @classmethod
    def get_for(cls, program):
        found = getattr(program, "_rewards_settings_cache", None)
        if found is None:
            found, _created = cls.objects.get_or_create(program=program)
            program._rewards_settings_cache = found
        return found


class PointsAccount(models.Model):
    """One per customer: the balance row locked (select_for_update) by every ledger write."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="points_accounts")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="points_account")
    balance = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="points_pending_not_negative"),
        ]

    def __str__(self):
        return f"{self.customer}: {self.balance}"


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    REDEEM = "redeem", _("Redeemed")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted")
    REVERSE = "reverse", _("Reversed")
    REFUND = "refund", _("Refunded")
    SPEND = "spend", _("Spent on an order")


class LedgerEntry(models.Model):
    """Append-only: one change of a customer's spendable (`points`) and pending points."""

    # A foreign key that leads one of the composite indexes below (program, customer) or is
    # mostly NULL (actor, redemption: partial indexes) has no index of its own: every grant
    # wrote those four for nothing (bench/README.md, Campaigns round 7).
    id = models.BigAutoField(primary_key=True)
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="ledger_entries", db_index=False)
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ledger_entries", db_index=False)
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    points = models.BigIntegerField(help_text=_("Change of the spendable balance (signed)."))
    pending_points = models.BigIntegerField(default=0, help_text=_("Change of the pending points (signed)."))
    balance_after = models.BigIntegerField()
    reason = models.CharField(max_length=255, help_text=_("English text for staff; customers see the message."))
    # What the customer reads, rendered in their language when read (rewards.activity).
    message_code = models.CharField(max_length=40, blank=True, default="")
    message_params = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    actor_label = models.CharField(max_length=100, blank=True, help_text=_("system, api, campaign, portal..."))
    source_type = models.CharField(max_length=40, blank=True)
    source_id = models.CharField(max_length=128, blank=True)
    idempotency_key = models.CharField(max_length=255)
    redemption = models.ForeignKey(
        "Redemption", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    pending_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "idempotency_key"], name="ledger_idempotency_unique"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_not_negative"),
        ]
        indexes = [
            models.Index(fields=["customer", "-id"], name="ledger_customer_recent"),
            # Activity lists read newest first by when the points were earned.
            models.Index(fields=["customer", "-created_at", "-id"], name="ledger_customer_timeline"),
            models.Index(fields=["program", "kind", "created_at"], name="ledger_program_kind_time"),
            models.Index(fields=["program", "source_type", "source_id"], name="ledger_source"),
            # `actor_id = x` (a user's deletion) and `redemption_id = x` imply NOT NULL.
            models.Index(fields=["actor"], name="ledger_actor", condition=Q(actor__isnull=False)),
            models.Index(fields=["redemption"], name="ledger_redemption", condition=Q(redemption__isnull=False)),
        ]

    def __str__(self):
        return f"{self.kind} {self.points:+d} ({self.customer})"


class PointsLot(models.Model):
    """Points earned together, with one expiry; consumed oldest-expiring first."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        AVAILABLE = "available", _("Available")
        CANCELLED = "cancelled", _("Cancelled")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    # Indexed by lot_account_order, which it leads.
    account = models.ForeignKey(PointsAccount, on_delete=models.CASCADE, related_name="lots", db_index=False)
    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="lots")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    points = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    available_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="lot_points_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("points")), name="lot_remaining_in_range"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status", "expires_at"], name="lot_account_order"),
            models.Index(fields=["status", "expires_at"], name="lot_expiry", condition=Q(remaining__gt=0)),
            # Only pending lots are released (rewards.ledger.release_pending_points).
            models.Index(fields=["available_at"], name="lot_release_pending", condition=Q(status="pending")),
        ]

    def __str__(self):
        return f"{self.points} ({self.remaining} left) of {self.account}"


class Clawback(models.Model):
    """What a refund event asked back and what could be taken; the rest is recorded here."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="clawbacks")
    source_type = models.CharField(max_length=40)
    source_id = models.CharField(max_length=128)
    refund_key = models.CharField(max_length=255)
    points_due = models.BigIntegerField()
    points_taken = models.BigIntegerField()
    points_unrecovered = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "refund_key"], name="clawback_unique")]

    def __str__(self):
        return f"{self.customer}: {self.points_due} due for {self.source_type} {self.source_id}"


class Tier(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="tiers")
    name = models.CharField(max_length=60)
    name_ar = models.CharField(_("name (Arabic)"), max_length=60, blank=True)
    name_ms = models.CharField(_("name (Malay)"), max_length=60, blank=True)
    min_points = models.PositiveIntegerField(help_text=_("Points earned in the rolling window to reach it."))
    earn_multiplier = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("1"))

    class Meta:
        ordering = ["program", "min_points"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="tier_name_unique"),
            models.UniqueConstraint(fields=["program", "min_points"], name="tier_threshold_unique"),
            models.CheckConstraint(condition=Q(earn_multiplier__gt=0), name="tier_multiplier_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def display_name(self):
        return getattr(self, f"name_{get_language() or 'en'}", "") or self.name


class CustomerTier(models.Model):
    """A customer's tier state: current tier, points in the window, next review date."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="tier_status")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL)
    window_points = models.BigIntegerField(default=0)
    review_at = models.DateField(null=True, blank=True)
    achieved_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.customer}: {self.tier}"


class RewardKind(models.TextChoices):
    GIFT_CARD = "gift_card", _("Gift card")
    VOUCHER = "voucher", _("Voucher code")
    MERCHANDISE = "merchandise", _("Merchandise")
    CASH = "cash", _("Cash")
    DONATION = "donation", _("Charity donation")
    EXPERIENCE = "experience", _("Experience")


CASH_LIKE = {RewardKind.CASH, RewardKind.GIFT_CARD}


class RewardItem(models.Model):
    """A catalogue reward. `stock` NULL = unlimited; voucher items are limited by their codes."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="reward_items")
    kind = models.CharField(max_length=12, choices=RewardKind.choices)
    title_en = models.CharField(_("title (English)"), max_length=120)
    title_ar = models.CharField(_("title (Arabic)"), max_length=120, blank=True)
    title_ms = models.CharField(_("title (Malay)"), max_length=120, blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    description_ar = models.TextField(_("description (Arabic)"), blank=True)
    description_ms = models.TextField(_("description (Malay)"), blank=True)
    how_to_use_en = models.TextField(
        _("how to use (English)"), blank=True, help_text=_("Shown after redeeming: how to use the reward.")
    )
    how_to_use_ar = models.TextField(_("how to use (Arabic)"), blank=True)
    how_to_use_ms = models.TextField(_("how to use (Malay)"), blank=True)
    use_within_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("The code must be used within this many days of redeeming; empty = no limit."),
    )
    points_cost = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    cash_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True, help_text=_("Empty: the program's."))
    stock = models.IntegerField(null=True, blank=True, help_text=_("Empty = unlimited."))
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    eligible_tiers = models.JSONField(default=list, blank=True, help_text=_("Tier names; empty = everyone."))
    eligible_segments = models.JSONField(default=list, blank=True, help_text=_("RFM segments; empty = everyone."))
    image = models.FileField(
        upload_to="rewards/", blank=True, validators=[FileExtensionValidator(["png", "jpg", "jpeg", "webp", "svg"])]
    )
    payout_method = models.CharField(max_length=20, blank=True, help_text=_("For cash-like items; default by kind."))
    provider_products = models.ManyToManyField(
        "payouts.ProviderProduct",
        blank=True,
        related_name="reward_items",
        help_text=_("Gift cards from a provider's catalogue; with several, the customer chooses one."),
    )
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "points_cost", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_not_negative"),
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_positive"),
        ]

    def __str__(self):
        return self.title_en

    def _localized(self, field):
        return getattr(self, f"{field}_{get_language() or 'en'}", "") or getattr(self, f"{field}_en")

    @property
    def title(self):
        return self._localized("title")

    @property
    def description(self):
        return self._localized("description")

    @property
    def how_to_use(self):
        return self._localized("how_to_use")

    def get_currency(self):
        return self.currency or self.program.currency

    @property
    def is_cash_like(self):
        return self.kind in CASH_LIKE


class VoucherCode(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        ASSIGNED = "assigned", _("Assigned")
        USED = "used", _("Used")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(RewardItem, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    redemption = models.OneToOneField(
        "Redemption", null=True, blank=True, on_delete=models.SET_NULL, related_name="voucher_code"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    batch = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="voucher_code_unique")]
        indexes = [models.Index(fields=["item", "status"], name="voucher_item_status")]

    def __str__(self):
        return self.code


class Redemption(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing", _("Processing")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        # Merchandise sent back (rewards.fulfilment): the points were refunded.
        RETURNED = "returned", _("Returned")

    class Source(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        CAMPAIGN = "campaign", _("Campaign")
        ADMIN = "admin", _("Admin")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="redemptions")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="redemptions")
    item = models.ForeignKey(RewardItem, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField(help_text=_("Points debited (0 for a campaign gift)."))
    cash_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CUSTOMER)
    channel = models.CharField(max_length=20, default="api")
    idempotency_key = models.CharField(max_length=255)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    payout_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    stock_reserved = models.BooleanField(default=False)
    failure_reason = models.CharField(max_length=255, blank=True)
    # A provider gift card: the provider's order id (clear, for support) and the code, PIN
    # or link it issued, encrypted (rewards.credentials) and shown only to the customer.
    provider_order = models.CharField(_("provider order"), max_length=128, blank=True)
    credentials_sealed = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["program", "idempotency_key"], name="redemption_idempotency_unique"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.item} for {self.customer}"

    @property
    def code(self):
        voucher = getattr(self, "voucher_code", None)
        return voucher.code if voucher else None

    @property
    def fulfilment_or_none(self):
        """The merchandise/donation/experience fulfilment, or None (digital rewards)."""
        try:
            return self.fulfilment
        except ObjectDoesNotExist:
            return None

    @property
    def status_label(self):
        """What the customer sees: the fulfilment's status when there is one."""
        fulfilment = self.fulfilment_or_none
        if fulfilment is not None and self.status == self.Status.COMPLETED:
            return fulfilment.get_status_display()
        return self.get_status_display()

    @property
    def credentials(self):
        """[{"kind": "code"|"pin"|"link", "label", "value"}] a provider issued, decrypted."""
        # Imported here: rewards.credentials imports payouts' adapters, which import models.
        from rewards.credentials import unseal

        return unseal(self.credentials_sealed)

    @property
    def use_by(self):
        """The last moment to use the reward (item.use_within_days after redeeming), or None."""
        days = self.item.use_within_days
        return self.created_at + timezone.timedelta(days=days) if days else None


class ReferralCode(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="referral_code")
    code = models.CharField(max_length=20)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["program", "code"], name="referral_code_unique")]

    def __str__(self):
        return self.code


class Referral(models.Model):
    """Ties a referrer to a referee (by the referee's external id; the row once they exist).

    `referral_sent` events make SENT rows. A friend who joins with a code makes a JOINED row
    (`code` set; one per referee per program), CONVERTED once their qualifying purchase has
    rewarded both, or REJECTED by a fraud rule with the reason kept.
    """

    class Status(models.TextChoices):
        SENT = "sent", _("Invited")
        JOINED = "joined", _("Signed up")
        CONVERTED = "converted", _("Joined")
        REJECTED = "rejected", _("Not eligible")

    class Reason(models.TextChoices):
        SELF = "self_referral", _("Referred themselves")
        SHARED_EMAIL = "shared_email", _("Same email address as the referrer")
        SHARED_PHONE = "shared_phone", _("Same phone number as the referrer")
        EXISTING = "existing_customer", _("Already a customer")
        CAP = "cap_reached", _("Referrer reached the cap for the period")
        VELOCITY = "velocity", _("Too many referrals in a short time")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    referrer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="referrals_made")
    referee_external_id = models.CharField(max_length=128)
    referee = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="referred_by")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENT)
    sent_at = models.DateTimeField(default=timezone.now)
    converted_at = models.DateTimeField(null=True, blank=True)
    code = models.CharField(max_length=20, blank=True, help_text=_("The code the friend joined with."))
    source = models.CharField(max_length=20, blank=True, help_text=_("portal or api (joined with a code)."))
    joined_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "referrer", "referee_external_id"], name="referral_unique"),
            # A friend joins with one code only: the first attach wins, a second is refused.
            models.UniqueConstraint(
                fields=["program", "referee_external_id"], condition=~Q(code=""), name="referral_one_code_per_referee"
            ),
        ]
        indexes = [models.Index(fields=["referrer", "joined_at"])]

    def __str__(self):
        return f"{self.referrer} → {self.referee or self.referee_external_id}"


class PortalLoginToken(models.Model):
    """A one-time sign-in link: the signed link carries the id; used_at makes it single use."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Sign-in link for {self.customer} ({self.created_at:%Y-%m-%d %H:%M})"


class BulkGrant(models.Model):
    """A CSV of points or reward grants (rewards.bulk_grants): validated whole and created
    all-or-nothing, then granted in batches by Celery, each row once (its ledger or
    redemption idempotency key is `bulk-grant:<id>:<line>`). One per file per program."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        PROCESSING = "processing", _("Processing")
        COMPLETED = "completed", _("Completed")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="bulk_grants")
    filename = models.CharField(_("file"), max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows granted"), default=0)
    rows_failed = models.PositiveIntegerField(_("rows failed"), default=0)
    points_total = models.PositiveBigIntegerField(_("points in the file"), default=0)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("bulk grant")
        constraints = [models.UniqueConstraint(fields=["program", "sha256"], name="bulk_grant_one_per_file")]

    def __str__(self):
        rows = ngettext("%(count)s row", "%(count)s rows", self.row_count) % {"count": f"{self.row_count:,}"}
        return f"{self.filename or _('Bulk grant')} ({rows})"


class BulkGrantRow(models.Model):
    """One line of a bulk grant: points or a catalogue reward for a customer, at `send_at`
    (NULL: at once). `done_at` is set in the transaction that granted it."""

    bulk = models.ForeignKey(BulkGrant, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField()
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField(null=True, blank=True)
    item = models.ForeignKey(RewardItem, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200)
    send_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["bulk", "line"]
        constraints = [
            models.UniqueConstraint(fields=["bulk", "line"], name="bulk_grant_row_line_unique"),
            models.CheckConstraint(
                condition=(Q(points__gt=0) & Q(item__isnull=True)) | (Q(points__isnull=True) & Q(item__isnull=False)),
                name="bulk_grant_row_points_or_reward",
            ),
        ]
        indexes = [models.Index(fields=["bulk", "done_at", "send_at"], name="bulk_grant_row_due")]

    def __str__(self):
        return f"line {self.line}"


class Charity(models.Model):
    """A charity a program's donation rewards can go to (the customer picks one)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="charities")
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120, blank=True)
    name_ms = models.CharField(_("name (Malay)"), max_length=120, blank=True)
    registration = models.CharField(_("registration number"), max_length=60, blank=True)
    active = models.BooleanField(_("offered"), default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name_en", "id"]
        verbose_name = _("charity")
        verbose_name_plural = _("charities")

    def __str__(self):
        return self.name_en

    @property
    def name(self):
        return getattr(self, f"name_{get_language() or 'en'}", "") or self.name_en


class FulfilmentStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    RETURNED = "returned", _("Returned")
    DONATED = "donated", _("Donated")
    BOOKED = "booked", _("Booked")


class Fulfilment(models.Model):
    """How a physical, charity or experience reward reaches the customer, moved only by
    rewards.fulfilment: merchandise requested -> shipped -> delivered (or -> returned,
    points refunded once); donations requested -> donated (a receipt); experiences
    requested -> booked (a booking code)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    redemption = models.OneToOneField(Redemption, on_delete=models.CASCADE, related_name="fulfilment")
    kind = models.CharField(max_length=12, choices=RewardKind.choices)
    status = models.CharField(max_length=10, choices=FulfilmentStatus.choices)
    # Merchandise: where to ship (given at redemption), then the shipment.
    ship_name = models.CharField(_("recipient"), max_length=120, blank=True)
    ship_line1 = models.CharField(_("address"), max_length=200, blank=True)
    ship_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    ship_city = models.CharField(_("city"), max_length=100, blank=True)
    ship_region = models.CharField(_("state or region"), max_length=100, blank=True)
    ship_postcode = models.CharField(_("postcode"), max_length=20, blank=True)
    ship_country = models.CharField(_("country"), max_length=2, blank=True)
    ship_phone = models.CharField(_("phone"), max_length=32, blank=True)
    carrier = models.CharField(_("carrier"), max_length=60, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=80, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    # Donations: the charity the customer chose and the receipt once donated.
    charity = models.ForeignKey(Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    receipt_number = models.CharField(_("receipt number"), max_length=40, blank=True)
    donated_at = models.DateTimeField(null=True, blank=True)
    # Experiences: the booking made for the customer.
    booking_code = models.CharField(_("booking code"), max_length=80, blank=True)
    booked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("fulfilment")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=FulfilmentStatus.values), name="fulfilment_status_valid"),
            models.UniqueConstraint(
                fields=["program", "receipt_number"], condition=~Q(receipt_number=""), name="donation_receipt_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status="shipped") | ~Q(tracking_number=""), name="fulfilment_shipped_has_tracking"
            ),
            models.CheckConstraint(
                condition=~Q(status="donated") | ~Q(receipt_number=""), name="fulfilment_donated_has_receipt"
            ),
            models.CheckConstraint(
                condition=~Q(status="booked") | ~Q(booking_code=""), name="fulfilment_booked_has_code"
            ),
        ]

    def __str__(self):
        return f"{self.redemption}: {self.get_status_display()}"

    @property
    def address_lines(self):
        """The shipping address as display lines (empty parts left out), the country by its
        name in the current language."""
        from rewards.forms import country_name  # forms is the portal's layer, above models

        city = " ".join(part for part in (self.ship_postcode, self.ship_city) if part)
        country = country_name(self.ship_country)
        parts = (self.ship_name, self.ship_line1, self.ship_line2, city, self.ship_region, country)
        return [part for part in parts if part]


class FulfilmentStatusChange(StatusChange):
    """Append-only history of a fulfilment's moves (written by rewards.fulfilment)."""

    subject = models.ForeignKey(Fulfilment, on_delete=models.CASCADE, related_name="status_changes")

    class Meta(StatusChange.Meta):
        verbose_name = _("fulfilment status change")
