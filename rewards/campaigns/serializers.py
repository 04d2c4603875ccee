"""Campaign API input/output shapes. Serializers parse; lifecycle.py validates the rule whole."""

from rest_framework import serializers

from engagement.partner_api import fields
from rewards.campaigns.models import Campaign


class AudienceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Campaign.Audience.choices, default="all")
    values = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    attributes = serializers.DictField(required=False, default=dict)


class TriggerSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Campaign.Trigger.choices)
    config = serializers.DictField(required=False, default=dict)


class ActionSerializer(serializers.Serializer):
    kind = serializers.CharField()
    config = serializers.DictField(required=False, default=dict)
    delay_minutes = serializers.IntegerField(min_value=0, required=False, default=0)
    cancel_if_event_type = serializers.CharField(required=False, allow_blank=True, default="")


class LimitsSerializer(serializers.Serializer):
    per_customer = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    per_customer_period_days = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    budget_points = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    budget_money = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, coerce_to_string=True
    )
    max_grants = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=Campaign.Status.choices, required=False)
    starts_at = fields.DateTimeField(required=False, allow_null=True)
    ends_at = fields.DateTimeField(required=False, allow_null=True)
    priority = serializers.IntegerField(required=False, default=0)
    audience = AudienceSerializer(required=False)
    trigger = TriggerSerializer()
    conditions = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    actions = ActionSerializer(many=True)
    limits = LimitsSerializer(required=False)


class SpentSerializer(serializers.Serializer):
    points = serializers.IntegerField(source="spent_points")
    money = serializers.DecimalField(source="spent_money", max_digits=14, decimal_places=2)
    grants = serializers.IntegerField(source="grants_count")


class CampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    paused_reason = serializers.CharField()
    last_error = serializers.CharField(help_text="Why the campaign went to status error (its last failure).")
    last_error_at = serializers.DateTimeField(allow_null=True)
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.IntegerField()
    audience = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField()
    conditions = serializers.JSONField()
    actions = serializers.SerializerMethodField()
    limits = serializers.SerializerMethodField()
    spent = SpentSerializer(source="*")
    template_key = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_audience(self, campaign) -> dict:
        return {
            "kind": campaign.audience,
            "values": campaign.audience_values,
            "attributes": campaign.audience_attributes,
        }

    def get_trigger(self, campaign) -> dict:
        return {"kind": campaign.trigger_kind, "config": campaign.trigger_config}

    def get_actions(self, campaign) -> list:
        return [
            {
                "id": a.pk,
                "kind": a.kind,
                "config": a.config,
                "delay_minutes": a.delay_minutes,
                "cancel_if_event_type": a.cancel_if_event_type,
            }
            for a in campaign.actions.all()
        ]

    def get_limits(self, campaign) -> dict:
        return {
            "per_customer": campaign.per_customer_limit,
            "per_customer_period_days": campaign.per_customer_period_days,
            "budget_points": campaign.budget_points,
            "budget_money": str(campaign.budget_money) if campaign.budget_money is not None else None,
            "max_grants": campaign.max_grants,
        }


class SimulateInputSerializer(serializers.Serializer):
    start = fields.DateTimeField()
    end = fields.DateTimeField()

    def validate(self, data):
        if data["end"] <= data["start"]:
            raise serializers.ValidationError({"end": "end must be after start."})
        if (data["end"] - data["start"]).days > 366:
            raise serializers.ValidationError({"end": "a simulation covers at most 366 days."})
        return data


class SimulateSampleSerializer(serializers.Serializer):
    customer = serializers.CharField()
    occurrence = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    points = serializers.IntegerField()
    money = serializers.DecimalField(max_digits=14, decimal_places=2)


class SimulateOutputSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    customers = serializers.IntegerField(help_text="Distinct customers who would qualify.")
    qualified = serializers.IntegerField()
    limited = serializers.IntegerField(help_text="Occurrences over the per-customer limit.")
    over_budget = serializers.IntegerField()
    budget_exhausted_at = serializers.DateTimeField(allow_null=True)
    actions = serializers.DictField(child=serializers.IntegerField(), help_text="Action runs by kind.")
    points = serializers.IntegerField()
    money = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    sample = SimulateSampleSerializer(many=True)
