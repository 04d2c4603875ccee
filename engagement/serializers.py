"""Partner API input/output shapes for customers and events. Serializers never write."""

import json
import zoneinfo

from rest_framework import serializers

from engagement.customers import PROFILE_FIELDS, validate_external_id
from engagement.models import Customer
from engagement.partner_api.fields import CachedFieldsMixin


class CustomerInputSerializer(serializers.ModelSerializer):
    attributes = serializers.DictField(required=False, help_text="Free-form object of the partner's own fields.")
    # A choice (not the model's validator alone) so the schema lists the zones it accepts.
    timezone = serializers.ChoiceField(
        choices=sorted(zoneinfo.available_timezones()), required=False, allow_blank=True, help_text="IANA time zone."
    )

    class Meta:
        model = Customer
        fields = list(PROFILE_FIELDS)

    def validate_attributes(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("attributes must be an object.")
        if "\\u0000" in json.dumps(value):
            raise serializers.ValidationError("attributes must not contain NUL characters.")
        return value


class CustomerUpsertSerializer(CustomerInputSerializer):
    external_id = serializers.CharField(
        max_length=128, validators=[validate_external_id], help_text='Your id for the customer; no "/".'
    )
    referral_code = serializers.CharField(
        max_length=20, required=False, write_only=True,
        help_text="A referrer's code: the customer joined through that referral. Unknown codes are refused "
        "(400, code `invalid_referral_code`, nothing stored). The first code attached to a customer is kept; "
        "fraud rules (self-referral, shared email or phone, existing customer, cap, velocity) record the "
        "referral as rejected, never rewarded. See docs/rewards.md.",
    )  # fmt: skip

    class Meta(CustomerInputSerializer.Meta):
        fields = ["external_id", *CustomerInputSerializer.Meta.fields, "referral_code"]


class CustomerOutputSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "external_id",
            "name",
            "email",
            "phone",
            "locale",
            "timezone",
            "birth_date",
            "attributes",
            "consent_email",
            "consent_sms",
            "consent_whatsapp",
            "consent_push",
            "tier",
            "first_seen_at",
            "last_seen_at",
            "event_count",
            "purchase_count",
            "revenue",
            "created_at",
            "updated_at",
            "erased_at",
        ]


class EventInputSerializer(serializers.Serializer):
    """Documents one event for the schema; validation itself is engagement.event_schema."""

    event_id = serializers.CharField(max_length=128)
    type = serializers.CharField(help_text="A catalogue type (API.md) or custom.<name>.")
    customer = serializers.CharField(max_length=128, help_text="The customer's external id.")
    occurred_at = serializers.DateTimeField(help_text="RFC 3339 with offset; not more than 1 day ahead.")
    value = serializers.CharField(required=False, help_text='Money as a decimal string, e.g. "12.50".')
    currency = serializers.CharField(required=False, help_text="Must be the program's currency.")
    properties = serializers.DictField(required=False)


class EventBatchInputSerializer(serializers.Serializer):
    events = EventInputSerializer(many=True, min_length=1, max_length=1000, help_text="1 to 1,000 events.")


class IngestOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class ReferralResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["joined", "converted", "rejected", "sent"],
        help_text="joined: both are rewarded at the friend's qualifying purchase; rejected: a fraud rule refused it.",
    )
    reason = serializers.CharField(
        help_text="Why it was rejected: self_referral, shared_email, shared_phone, existing_customer, cap_reached, "
        "velocity; empty otherwise."
    )


class CustomerUpsertOutputSerializer(CustomerOutputSerializer):
    referral = ReferralResultSerializer(
        read_only=True, allow_null=True, help_text="The referral made by `referral_code`; null without a code."
    )

    class Meta(CustomerOutputSerializer.Meta):
        fields = [*CustomerOutputSerializer.Meta.fields, "referral"]
