"""Partner API: `GET/POST /webhooks`, `GET/DELETE /webhooks/{id}`, `POST /webhooks/{id}/rotate-secret`.

Views parse and delegate to engagement.webhooks.subscriptions (STYLE.md). Everything is
filtered by the calling key's program: another program's subscription is a 404.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.partner_api.idempotency import idempotency_header, idempotent
from engagement.partner_api.pagination import PageNumberPagination, paginated
from engagement.webhooks import subscriptions
from engagement.webhooks.models import EventType, WebhookSubscription

IDEMPOTENCY_HEADER = idempotency_header(
    description="Replays the first response (including the secret) for the same key and body."
)


class SubscriptionOutputSerializer(serializers.ModelSerializer):
    # One component for every answer (a second one would make the schema's "status" enum
    # name ambiguous); `secret` is only present in the create and rotate answers.
    secret = serializers.SerializerMethodField(
        help_text="Only in the create and rotate-secret answers: store it, it is not shown again."
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "status",
            "paused_reason",
            "created_at",
            "updated_at",
            "secret",
        ]

    @extend_schema_field(serializers.CharField(required=False))
    def get_secret(self, obj):
        return self.context.get("secret")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "secret" not in self.context:  # never read from the row: shown once, by the caller
            data.pop("secret")
        return data


def _get_subscription(request, subscription_id):
    subscription = subscriptions.get_subscription(request.program, subscription_id)
    if subscription is None:
        raise Http404
    return subscription


class WebhookListApi(APIView):
    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=500, validators=[subscriptions.validate_target_url])
        event_types = serializers.ListField(
            child=serializers.ChoiceField(choices=EventType.choices),
            required=False,
            default=list,
            help_text="Event types to receive; empty or omitted = all.",
        )
        description = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    @extend_schema(responses={200: paginated(SubscriptionOutputSerializer)}, summary="List webhook subscriptions")
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(subscriptions.list_subscriptions(request.program), request, view=self)
        return paginator.get_paginated_response(SubscriptionOutputSerializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: SubscriptionOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Subscribe an endpoint to webhook events",
        description="Answers with the signing secret, once. The URL must be https.",
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = subscriptions.create_subscription(program=request.program, **serializer.validated_data)
        data = SubscriptionOutputSerializer(created.subscription, context={"secret": created.secret}).data
        return Response(data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses={200: SubscriptionOutputSerializer}, summary="Read a webhook subscription")
    def get(self, request, subscription_id):
        return Response(SubscriptionOutputSerializer(_get_subscription(request, subscription_id)).data)

    @extend_schema(responses={204: None}, summary="Delete a webhook subscription (and its delivery log)")
    def delete(self, request, subscription_id):
        subscriptions.delete_subscription(_get_subscription(request, subscription_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(APIView):
    @extend_schema(
        request=None,
        responses={200: SubscriptionOutputSerializer},
        summary="Rotate the signing secret",
        description="Answers with the new secret, once. Deliveries carry signatures with both the new "
        "and the old secret until the old one retires (WEBHOOKS_ROTATION_OVERLAP_HOURS).",
    )
    def post(self, request, subscription_id):
        rotated = subscriptions.rotate_secret(_get_subscription(request, subscription_id))
        return Response(SubscriptionOutputSerializer(rotated.subscription, context={"secret": rotated.secret}).data)
