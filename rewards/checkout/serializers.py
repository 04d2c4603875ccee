"""Input and output shapes of the checkout API. Serializers never write (STYLE.md)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engagement.models import CURRENCY_PATTERN
from rewards.checkout.evaluation import money


class LineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=100)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=Decimal("0"))
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), max_length=20, required=False, default=list
    )


class CartInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128)
    currency = serializers.RegexField(CURRENCY_PATTERN, max_length=3, help_text="ISO 4217; the program's.")
    lines = LineInputSerializer(many=True, min_length=1, max_length=500)
    codes = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=10, required=False, default=list
    )


class ReservationInputSerializer(CartInputSerializer):
    order_id = serializers.CharField(max_length=128)
    points = serializers.IntegerField(min_value=0, max_value=2_000_000_000, default=0)
    ttl_seconds = serializers.IntegerField(min_value=60, max_value=86_400, required=False)


class EvaluatedLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())
    unit_price = serializers.CharField()
    total = serializers.CharField()
    discount = serializers.CharField()
    net = serializers.CharField()
    points = serializers.IntegerField()
    earning_multiplier = serializers.CharField()
    excluded = serializers.BooleanField()


class DiscountSerializer(serializers.Serializer):
    code = serializers.CharField()
    promotion = serializers.IntegerField()
    level = serializers.ChoiceField(choices=["line", "order"])
    amount = serializers.CharField()
    reason = serializers.CharField(help_text="The promotion's title in the customer's language.")
    lines = serializers.ListField(child=serializers.IntegerField(), help_text="Indexes of the discounted lines.")


class RefusedCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    index = serializers.IntegerField()
    reason = serializers.CharField(help_text="Machine-readable: not_found, expired, exhausted, min_order_value, …")
    detail = serializers.CharField(help_text="In the customer's language.")


class PointsSummarySerializer(serializers.Serializer):
    earned = serializers.IntegerField(help_text="Points the order earns (pending for the return window).")
    balance = serializers.IntegerField()
    held = serializers.IntegerField()
    max_spendable = serializers.IntegerField()
    max_spendable_value = serializers.CharField()
    limited_by = serializers.ChoiceField(
        choices=["balance", "order_value", "max_per_order", "min_per_order", "promotion"]
    )


class EvaluationOutputSerializer(serializers.Serializer):
    customer = serializers.CharField()
    currency = serializers.CharField()
    subtotal = serializers.CharField()
    discount_total = serializers.CharField()
    total = serializers.CharField()
    lines = EvaluatedLineSerializer(many=True)
    discounts = DiscountSerializer(many=True)
    refused_codes = RefusedCodeSerializer(many=True)
    points = PointsSummarySerializer()


@extend_schema_field(EvaluationOutputSerializer)
class StoredEvaluationField(serializers.Field):
    """The evaluation stored with a reservation, already in the answer's shape
    (evaluation.to_dict): given as stored, not rendered again field by field."""

    def to_representation(self, value):
        return value


class ReservationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.CharField()
    customer = serializers.CharField(source="customer.external_id")
    status = serializers.CharField()
    points = serializers.IntegerField()
    money_value = serializers.SerializerMethodField()
    currency = serializers.CharField()
    points_returned = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    released_at = serializers.DateTimeField(allow_null=True)
    evaluation = StoredEvaluationField()

    def get_money_value(self, reservation) -> str:
        return money(reservation.money_value, reservation.currency)


class CodeOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    valid = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    detail = serializers.CharField(allow_null=True)
    promotion = serializers.IntegerField()
    title = serializers.CharField()
    kind = serializers.CharField()
    level = serializers.CharField()
    value = serializers.CharField()
    min_order_value = serializers.CharField()
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    uses = serializers.IntegerField()
    max_uses = serializers.IntegerField(help_text="0 = no cap.")
