"""Partner API: customers and events. Views parse and delegate (STYLE.md)."""

import time

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement import backlog, hooks
from engagement import customers as customer_services
from engagement.customer_export import export_customer
from engagement.event_schema import MAX_BATCH, validate_events
from engagement.ingest import record_events
from engagement.models import Customer
from engagement.partner_api.errors import ApiError, IngestBacklogged
from engagement.partner_api.idempotency import IDEMPOTENCY_HEADER, idempotent
from engagement.partner_api.pagination import PageNumberPagination, paginated
from engagement.partner_api.params import TIME_SCHEMA, parse_time_param
from engagement.serializers import (
    CustomerInputSerializer,
    CustomerOutputSerializer,
    CustomerUpsertOutputSerializer,
    CustomerUpsertSerializer,
    EventBatchInputSerializer,
    IngestOutputSerializer,
)


class EventIngestApi(APIView):
    def initial(self, request, *args, **kwargs):
        """After authentication and the rate limit, admission: over the ingest backlog, 429
        before the body is even parsed, so nothing is stored (engagement.backlog)."""
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            counted = getattr(getattr(request, "rate_counts", None), "backlog", None)
            if (wait := backlog.refusal(counted, time.time())) is not None:
                raise IngestBacklogged(wait=wait)

    @extend_schema(
        request=EventBatchInputSerializer,
        responses={202: IngestOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Send one event or a batch of up to 1,000",
        description='Body: one event object, or {"events": [...]}. The whole batch is validated first; '
        "any invalid item -> 400 listing every bad item by index, nothing stored. Duplicates are counted. "
        "While too many accepted events wait for processing (EVENTS_MAX_BACKLOG), 429 with code "
        "`ingest_backlog` and Retry-After, nothing stored: send the same batch again after Retry-After "
        "seconds (the same event_ids are stored once).",
    )
    @idempotent
    def post(self, request):
        body = request.data
        single = isinstance(body, dict) and "events" not in body
        items = [body] if single else body.get("events") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ApiError('Send one event object or {"events": [...]}.', code="invalid", attr="events")
        if not items:
            raise ApiError("events must not be empty.", code="empty", attr="events")
        if len(items) > MAX_BATCH:
            raise ApiError(f"A batch holds at most {MAX_BATCH} events.", code="batch_too_large", attr="events")
        clean, errors = validate_events(items, request.program.currency, single=single)
        if errors:
            return Response({"type": "validation_error", "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        result = record_events(request.program, clean)
        return Response({"accepted": result.accepted, "duplicates": result.duplicates}, status=status.HTTP_202_ACCEPTED)


class CustomerListApi(APIView):
    @extend_schema(
        responses={200: paginated(CustomerOutputSerializer)},
        parameters=[
            OpenApiParameter("tier", str, description="Current tier name."),
            OpenApiParameter("segment", str, description="Current RFM segment name."),
            OpenApiParameter("updated_since", TIME_SCHEMA, description="RFC 3339; customers updated at or after."),
            OpenApiParameter("search", str, description="Part of external id, name or email."),
        ],
        summary="List customers",
    )
    def get(self, request):
        customers = Customer.objects.filter(program=request.program).order_by("id")
        if tier := request.query_params.get("tier"):
            customers = customers.filter(tier=tier)
        if segment := request.query_params.get("segment"):
            customers = customers.filter(score__segment=segment)
        if since := parse_time_param(request, "updated_since"):
            customers = customers.filter(updated_at__gte=since)
        if search := request.query_params.get("search"):
            from django.db.models import Q

            customers = customers.filter(
                Q(external_id__icontains=search) | Q(name__icontains=search) | Q(email__icontains=search)
            )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(customers, request, view=self)
        return paginator.get_paginated_response(CustomerOutputSerializer(page, many=True).data)

    @extend_schema(
        request=CustomerUpsertSerializer,
        responses={200: CustomerUpsertOutputSerializer, 201: CustomerUpsertOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create or update a customer by external_id",
    )
    @idempotent
    def post(self, request):
        serializer = CustomerUpsertSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "external_id" not in data:
            raise ApiError("external_id is required.", code="required", attr="external_id")
        code = data.pop("referral_code", None)
        # One transaction: an unknown referral code leaves no customer behind.
        with transaction.atomic():
            customer, created = customer_services.upsert_customer(request.program, data.pop("external_id"), data)
            referral = hooks.attach_referral(customer, code, "api") if code else None
            if code and referral is None:
                raise ApiError(
                    "Unknown referral code.", code="invalid_referral_code", attr="referral_code",
                    error_type="validation_error",
                )  # fmt: skip
        customer.referral = referral  # the output's `referral` (not a model field)
        body = CustomerUpsertOutputSerializer(customer).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CustomerDetailApi(APIView):
    @extend_schema(responses={200: CustomerOutputSerializer}, summary="Read a customer")
    def get(self, request, external_id):
        customer = customer_services.get_customer(request.program, external_id)
        return Response(CustomerOutputSerializer(customer).data)

    @extend_schema(
        request=CustomerInputSerializer, responses={200: CustomerOutputSerializer}, summary="Update a customer"
    )
    def patch(self, request, external_id):
        customer = customer_services.get_customer(request.program, external_id)
        serializer = CustomerInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        customer_services.update_customer(customer, serializer.validated_data)
        return Response(CustomerOutputSerializer(customer).data)

    @extend_schema(responses={204: None}, summary="Erase a customer's personal data (anonymise)")
    def delete(self, request, external_id):
        customer = customer_services.get_customer(request.program, external_id)
        customer_services.erase_customer(customer)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerExportOutputSerializer(serializers.Serializer):
    program = serializers.CharField()
    customer = serializers.DictField(help_text="Profile: external_id, name, email, phone, consents, tier, ...")
    engagement = serializers.DictField(help_text="Activity counts, revenue, engagement score and segment.")
    events = serializers.ListField(child=serializers.DictField(), help_text="Every event kept, oldest first.")
    events_rolled_up = serializers.DictField(
        allow_null=True,
        help_text="Events older than the retention (EVENTS_RETENTION_MONTHS), dropped: `before` (the cutoff), "
        "`events` (type, occurred_at, value, oldest first), `referred_customers`, `clicked_messages`; "
        "null when none were dropped.",
    )
    messages = serializers.ListField(child=serializers.DictField(), help_text="Messages sent or queued.")
    push_subscriptions = serializers.ListField(child=serializers.DictField())
    surveys = serializers.DictField(help_text="Invitations, and responses with every answer.")
    rewards = serializers.DictField(help_text="Balance, tier, ledger entries, redemptions, referrals.")
    payouts = serializers.ListField(child=serializers.DictField(), help_text="Payouts; destinations masked.")


class CustomerExportApi(APIView):
    @extend_schema(
        responses={200: CustomerExportOutputSerializer},
        summary="Export everything held about a customer (GDPR Art. 15/20)",
        description="One JSON document: profile, engagement, events, messages, surveys (with answers), "
        "rewards (ledger, redemptions), payouts. After an erasure it shows what was kept.",
    )
    def get(self, request, external_id):
        customer = customer_services.get_customer(request.program, external_id)
        return Response(export_customer(customer))
