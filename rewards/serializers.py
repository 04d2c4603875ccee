"""Partner API shapes for points, catalogue and redemptions. Serializers never write."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engagement.partner_api import fields
from rewards.catalogue import available_stock
from rewards.forms import SHIP_COUNTRIES
from rewards.models import Charity, Fulfilment, LedgerEntry, Redemption, RewardItem, RewardKind, VoucherCode
from rewards.provider_rewards import offered_products


class GrantInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128)
    points = serializers.IntegerField(min_value=1, max_value=100_000_000)
    reason = serializers.CharField(max_length=255)
    expires_at = fields.DateTimeField(required=False, allow_null=True)
    idempotency_key = serializers.CharField(max_length=200, required=False)


class AdjustmentInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128)
    points = serializers.IntegerField(min_value=-100_000_000, max_value=100_000_000)
    reason = serializers.CharField(max_length=255)
    idempotency_key = serializers.CharField(max_length=200, required=False)

    def validate_points(self, value):
        if value == 0:
            raise serializers.ValidationError("points must not be 0.", code="invalid")
        return value


class ShippingAddressInputSerializer(serializers.Serializer):
    """Where a merchandise reward ships. Checked by the portal's form (rewards.forms.
    ShippingAddressForm) in the view, so both take and refuse the same addresses."""

    name = serializers.CharField(max_length=120)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    postcode = serializers.CharField(max_length=20, help_text="Letters, digits, spaces and dashes.")
    country = serializers.CharField(
        max_length=2, help_text="ISO 3166 code of a country merchandise ships to: " + ", ".join(SHIP_COUNTRIES) + "."
    )
    phone = serializers.CharField(max_length=32, help_text="For the courier: digits, spaces, dashes, a leading +.")


class RedemptionInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128)
    reward = serializers.IntegerField(min_value=1)
    idempotency_key = serializers.CharField(max_length=200, required=False)
    product = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text="For a gift-card reward offering several cards (`products` in GET /rewards): the one chosen "
        "(required when there are several; one outside the list is refused).",
    )
    shipping_address = ShippingAddressInputSerializer(
        required=False, help_text="Required for a merchandise reward; refused for any other kind."
    )
    charity = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="For a donation reward when the program lists charities (`charities` in GET /rewards): "
        "the id of the one chosen (required then).",
    )


class ExpiringSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    points = serializers.IntegerField()


class BalanceOutputSerializer(serializers.Serializer):
    customer = serializers.CharField()
    balance = serializers.IntegerField()
    pending = serializers.IntegerField()
    held = serializers.IntegerField(help_text="Held for orders at checkout (already out of `balance`).")
    expiring_soon = ExpiringSerializer(allow_null=True)
    tier = serializers.CharField(allow_blank=True)
    points_name = serializers.CharField()


class LedgerEntryOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    redemption = serializers.IntegerField(source="redemption_id", allow_null=True)
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = LedgerEntry
        fields = [
            "id", "customer", "kind", "points", "pending_points", "balance_after", "reason", "message_code",
            "message_params", "actor", "source_type", "source_id", "redemption", "expires_at", "pending_until",
            "created_at",
        ]  # fmt: skip


class ProductChoiceSerializer(serializers.Serializer):
    product = serializers.CharField(source="product_id")
    name = serializers.CharField()
    brand = serializers.CharField()
    image_url = serializers.CharField()
    instructions = serializers.CharField()
    terms = serializers.CharField()


class CharityChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    registration = serializers.CharField()

    def get_name(self, charity) -> dict:
        return {"en": charity.name_en, "ar": charity.name_ar, "ms": charity.name_ms}


class RewardOutputSerializer(serializers.ModelSerializer):
    title = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()
    currency = serializers.CharField(source="get_currency")
    cash_value = serializers.DecimalField(max_digits=12, decimal_places=2)
    stock = serializers.SerializerMethodField()
    eligible = serializers.SerializerMethodField()
    ineligible_reason = serializers.SerializerMethodField()
    affordable = serializers.SerializerMethodField()
    products = serializers.SerializerMethodField()
    charities = serializers.SerializerMethodField()

    class Meta:
        model = RewardItem
        fields = [
            "id", "kind", "title", "description", "points_cost", "cash_value", "currency", "stock",
            "valid_from", "valid_until", "eligible_tiers", "eligible_segments", "eligible", "ineligible_reason",
            "affordable", "products", "charities",
        ]  # fmt: skip

    @extend_schema_field(CharityChoiceSerializer(many=True))
    def get_charities(self, item):
        """The charities a donation reward may go to (empty for other rewards)."""
        if item.kind != RewardKind.DONATION:
            return []
        # One query per program for the whole list, not one per donation reward.
        cache = self.context.setdefault("charities", {}) if self.context is not None else {}
        if item.program_id not in cache:
            offered = Charity.objects.filter(program_id=item.program_id, active=True)
            cache[item.program_id] = CharityChoiceSerializer(offered, many=True).data
        return cache[item.program_id]

    @extend_schema_field(ProductChoiceSerializer(many=True))
    def get_products(self, item):
        """The gift cards the customer may choose among (empty for other rewards)."""
        return ProductChoiceSerializer(offered_products(item), many=True).data

    def get_title(self, item) -> dict:
        return {"en": item.title_en, "ar": item.title_ar, "ms": item.title_ms}

    def get_description(self, item) -> dict:
        return {"en": item.description_en, "ar": item.description_ar, "ms": item.description_ms}

    def get_stock(self, item) -> int | None:
        return available_stock(item)

    def get_eligible(self, item) -> bool | None:
        return None if not hasattr(item, "eligibility") else item.eligibility is None

    def get_ineligible_reason(self, item) -> str | None:
        error = getattr(item, "eligibility", None)
        return error.code if error else None

    def get_affordable(self, item) -> bool | None:
        return getattr(item, "affordable", None)


class FulfilmentOutputSerializer(serializers.ModelSerializer):
    """Where a merchandise, donation or experience reward stands (no shipping address: the
    partner sent it, and it is personal data)."""

    charity = serializers.IntegerField(source="charity_id", allow_null=True)
    charity_name = serializers.CharField(source="charity.name_en", allow_null=True, default=None)

    class Meta:
        model = Fulfilment
        fields = [
            "kind", "status", "carrier", "tracking_number", "shipped_at", "delivered_at", "returned_at",
            "charity", "charity_name", "receipt_number", "donated_at", "booking_code", "booked_at", "updated_at",
        ]  # fmt: skip


class RedemptionOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    reward = serializers.IntegerField(source="item_id")
    title = serializers.CharField(source="item.title_en")
    code = serializers.CharField(allow_null=True)
    payout = serializers.IntegerField(source="payout_id", allow_null=True)
    fulfilment = serializers.SerializerMethodField()

    class Meta:
        model = Redemption
        fields = [
            "id", "customer", "reward", "title", "points", "cash_value", "currency", "status", "source",
            "channel", "code", "payout", "failure_reason", "created_at", "completed_at", "failed_at", "fulfilment",
        ]  # fmt: skip

    @extend_schema_field(FulfilmentOutputSerializer(allow_null=True))
    def get_fulfilment(self, redemption) -> dict | None:
        fulfilment = Fulfilment.objects.select_related("charity").filter(redemption=redemption).first()
        return FulfilmentOutputSerializer(fulfilment).data if fulfilment else None


class VoucherCodeOutputSerializer(serializers.ModelSerializer):
    reward = serializers.IntegerField(source="item_id")
    redemption = serializers.IntegerField(source="redemption_id", allow_null=True)

    class Meta:
        model = VoucherCode
        fields = ["code", "reward", "status", "redemption", "assigned_at", "used_at"]
