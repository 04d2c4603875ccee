"""Checkout data: per-program spending settings, earning rules, promotions, code pools and
codes, and reservations of points (and codes) for an order.

Invariants kept by the database: a code's uses never pass its cap, a promotion's uses never
pass its cap, one reservation per (program, order id), one code per (program, code).
Only rewards.checkout.reservations changes a reservation's status or a code's use count.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.models import Customer, Program
from rewards.models import LedgerEntry


class CheckoutSettings(models.Model):
    """How points pay for an order (the burn side); created with defaults on first use."""

    program = models.OneToOneField(Program, on_delete=models.CASCADE, related_name="checkout_settings")
    point_value = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0.01"), validators=[MinValueValidator(Decimal("0.0001"))],
        help_text=_("What one point pays, in the program's currency."),
    )  # fmt: skip
    min_points_per_order = models.PositiveIntegerField(
        default=0, help_text=_("Fewer points than this cannot be spent.")
    )
    max_points_per_order = models.PositiveIntegerField(default=0, help_text=_("0 = no limit."))
    max_order_share_percent = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Points may pay at most this share of the order after discounts."),
    )  # fmt: skip
    points_step = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text=_("Points are spent in multiples of this.")
    )
    reservation_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1)], help_text=_("How long a hold lasts unless the shop says.")
    )

    class Meta:
        verbose_name = _("checkout settings")
        verbose_name_plural = _("checkout settings")

    def __str__(self):
        return f"Checkout settings of {self.program}"

    @classmethod
    def get_for(cls, program):
        found = getattr(program, "_checkout_settings_cache", None)
        if found is None:
            found, _created = cls.objects.get_or_create(program=program)
            program._checkout_settings_cache = found
        return found


class RuleTarget(models.TextChoices):
    SKU = "sku", _("SKU")
    TAG = "tag", _("Tag")
    CATEGORY = "category", _("Category")


class EarningRule(models.Model):
    """A multiplier (or an exclusion) for cart lines of a SKU, tag or category.

    The most specific matching rule wins: SKU, then tag, then category (rules.py)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="earning_rules")
    name = models.CharField(max_length=100)
    target = models.CharField(max_length=10, choices=RuleTarget.choices)
    value = models.CharField(max_length=100, help_text=_("The SKU, tag or category it matches (exactly)."))
    multiplier = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("1"), validators=[MinValueValidator(0)]
    )
    excluded = models.BooleanField(default=False, help_text=_("Matching lines earn no points."))
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["program", "target", "value"]
        constraints = [
            models.UniqueConstraint(fields=["program", "target", "value"], name="earning_rule_unique"),
            models.CheckConstraint(condition=Q(multiplier__gte=0), name="earning_rule_multiplier_not_negative"),
        ]

    def __str__(self):
        return self.name


class DiscountKind(models.TextChoices):
    PERCENT = "percent", _("Percent off")
    AMOUNT = "amount", _("Amount off")


class DiscountLevel(models.TextChoices):
    LINE = "line", _("Each eligible line")
    ORDER = "order", _("The order (eligible lines together)")


class Promotion(models.Model):
    """A discount that codes unlock, with its eligibility, caps, validity and stacking."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="promotions")
    name = models.CharField(max_length=100)
    title_en = models.CharField(_("title (English)"), max_length=120, help_text=_("What the customer reads."))
    title_ar = models.CharField(_("title (Arabic)"), max_length=120, blank=True)
    title_ms = models.CharField(_("title (Malay)"), max_length=120, blank=True)
    kind = models.CharField(max_length=10, choices=DiscountKind.choices, default=DiscountKind.PERCENT)
    level = models.CharField(max_length=10, choices=DiscountLevel.choices, default=DiscountLevel.ORDER)
    value = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Percent (1-100) or an amount in the program's currency."),
    )  # fmt: skip
    eligible_skus = models.JSONField(default=list, blank=True, help_text=_("Empty: every SKU."))
    eligible_categories = models.JSONField(default=list, blank=True, help_text=_("Empty: every category."))
    eligible_tiers = models.JSONField(default=list, blank=True, help_text=_("Tier names; empty: every tier."))
    eligible_segments = models.JSONField(default=list, blank=True, help_text=_("RFM segments; empty: all."))
    min_order_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    stackable = models.BooleanField(default=False, help_text=_("May be combined with other promotions."))
    allow_points = models.BooleanField(default=True, help_text=_("Points may pay the rest of the order."))
    max_uses = models.PositiveIntegerField(default=0, help_text=_("Uses of all its codes together; 0 = no cap."))
    max_uses_per_customer = models.PositiveIntegerField(default=0, help_text=_("0 = no cap."))
    uses = models.PositiveIntegerField(default=0, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["program", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_uses=0) | Q(uses__lte=F("max_uses")), name="promotion_uses_within_cap"
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(value__lte=100), name="promotion_percent_at_most_100"
            ),
        ]

    def __str__(self):
        return self.name

    def title(self, language):
        return getattr(self, f"title_{language}", "") or self.title_en


class CodePool(models.Model):
    """A batch of codes of one promotion: generated by pattern or imported."""

    class Status(models.TextChoices):
        GENERATING = "generating", _("Generating")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="pools")
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=20, blank=True, validators=[RegexValidator(r"^[A-Z0-9-]*$")], help_text=_("e.g. SPRING-")
    )
    length = models.PositiveSmallIntegerField(
        default=8, validators=[MinValueValidator(4), MaxValueValidator(32)], help_text=_("Random characters.")
    )
    alphabet = models.CharField(
        max_length=64, default="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", validators=[RegexValidator(r"^[A-Z0-9]{2,64}$")],
        help_text=_("Characters codes are made of (no look-alikes by default)."),
    )  # fmt: skip
    count = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(1_000_000)],
        help_text=_("How many codes to generate (at most 1,000,000)."),
    )
    uses_per_code = models.PositiveIntegerField(default=1, help_text=_("1 = single-use; 0 = no cap."))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GENERATING, editable=False)
    generated = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class PromotionCode(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="codes")
    pool = models.ForeignKey(CodePool, null=True, blank=True, on_delete=models.CASCADE, related_name="codes")
    code = models.CharField(max_length=64)
    max_uses = models.PositiveIntegerField(default=1, help_text=_("0 = no cap."))
    uses = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="promotion_code_unique"),
            models.CheckConstraint(condition=Q(max_uses=0) | Q(uses__lte=F("max_uses")), name="code_uses_within_cap"),
        ]

    def __str__(self):
        return self.code


class Reservation(models.Model):
    """Points (and codes) held for one order until it is paid, cancelled or the hold expires."""

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        CONFIRMED = "confirmed", _("Paid")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="reservations")
    order_id = models.CharField(max_length=128)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    points = models.PositiveIntegerField()
    money_value = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    order_total = models.DecimalField(max_digits=14, decimal_places=4, help_text=_("After discounts."))
    points_returned = models.PositiveIntegerField(default=0)
    evaluation = models.JSONField(default=dict)
    debit = models.ForeignKey(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "order_id"], name="reservation_order_unique"),
            models.CheckConstraint(condition=Q(points_returned__lte=F("points")), name="reservation_return_in_range"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"], name="reservation_due")]

    def __str__(self):
        return f"{self.order_id}: {self.points} ({self.status})"


class CodeUse(models.Model):
    """One code applied to one reservation; `released` when the hold ended unpaid."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="+")
    code = models.ForeignKey(PromotionCode, on_delete=models.CASCADE, related_name="code_uses")
    promotion = models.ForeignKey(Promotion, on_delete=models.CASCADE, related_name="code_uses")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="code_uses")
    discount = models.DecimalField(max_digits=14, decimal_places=4)
    released = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["reservation", "code"], name="code_use_once_per_order")]
        indexes = [models.Index(fields=["promotion", "customer"], name="code_use_customer")]
