"""Partner API serializers for payouts: they parse and format, never write."""

from rest_framework import serializers

from engagement.currencies import validate_currency
from payouts.models import Method, Payout


class PayoutInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128, help_text="The customer's external_id.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, coerce_to_string=True)
    currency = serializers.CharField(
        max_length=3,
        required=False,
        validators=[validate_currency],
        help_text="ISO 4217 code (e.g. MYR, USD). Default: the program's currency.",
    )
    method = serializers.ChoiceField(choices=Method.choices)
    destination = serializers.DictField(
        help_text="gift_card: email (+ product, name); bank_transfer: account_name + iban, or account_number + "
        "bank_code (SWIFT/BIC); upi: vpa; paypal: email; voucher: optional email."
    )
    provider = serializers.CharField(max_length=40, required=False)
    source_ref = serializers.CharField(max_length=128, required=False, allow_blank=True)


class PayoutOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)

    class Meta:
        model = Payout
        fields = [
            "id",
            "reference",
            "customer",
            "amount",
            "currency",
            "method",
            "destination",
            "provider",
            "provider_reference",
            "source",
            "source_ref",
            "status",
            "hold",
            "hold_detail",
            "status_reason",
            "created_at",
            "updated_at",
            "completed_at",
        ]
