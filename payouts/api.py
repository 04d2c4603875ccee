"""Partner API: payouts. Views parse and delegate (STYLE.md); everything is filtered by
the key's program, so another program's payout is a 404."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.customers import get_customer
from engagement.partner_api.errors import ApiError
from engagement.partner_api.idempotency import idempotency_header, idempotent
from engagement.partner_api.pagination import PageNumberPagination, paginated
from engagement.partner_api.params import TIME_SCHEMA, parse_time_param
from payouts import services
from payouts.models import Method, Payout, Status
from payouts.serializers import PayoutInputSerializer, PayoutOutputSerializer


class PayoutListApi(APIView):
    @extend_schema(
        responses={200: paginated(PayoutOutputSerializer)},
        parameters=[
            OpenApiParameter("status", str, enum=Status.values),
            OpenApiParameter("method", str, enum=Method.values),
            OpenApiParameter("customer", str, description="The customer's external_id."),
            OpenApiParameter("created_after", TIME_SCHEMA, description="RFC 3339; created at or after."),
            OpenApiParameter("created_before", TIME_SCHEMA, description="RFC 3339; created before."),
        ],
        summary="List payouts, newest first",
    )
    def get(self, request):
        payouts = Payout.objects.filter(program=request.program).select_related("customer").order_by("-id")
        params = request.query_params
        for name, choices in (("status", Status.values), ("method", Method.values)):
            if value := params.get(name):
                if value not in choices:
                    raise ApiError(f"{name} must be one of {', '.join(choices)}.", code="invalid_choice", attr=name)
                payouts = payouts.filter(**{name: value})
        if customer := params.get("customer"):
            payouts = payouts.filter(customer__external_id=customer)
        if after := parse_time_param(request, "created_after"):
            payouts = payouts.filter(created_at__gte=after)
        if before := parse_time_param(request, "created_before"):
            payouts = payouts.filter(created_at__lt=before)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(payouts, request, view=self)
        return paginator.get_paginated_response(PayoutOutputSerializer(page, many=True).data)

    @extend_schema(
        request=PayoutInputSerializer,
        responses={201: PayoutOutputSerializer},
        parameters=[idempotency_header(required=True)],
        summary="Request a payout (Idempotency-Key required)",
        description="Creates a payout to a customer. It is queued for the provider, or held in pending_approval "
        "(hold says why: approval threshold, velocity, daily limit, funds). The same Idempotency-Key replays "
        "the first response; payout.succeeded / payout.failed webhooks report the outcome.",
    )
    @idempotent
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise ApiError("Idempotency-Key header is required.", code="required", attr="Idempotency-Key")
        serializer = PayoutInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = get_customer(request.program, data["customer"], attr="customer")
        payout = services.request_payout(
            program=request.program,
            customer=customer,
            amount=data["amount"],
            currency=data.get("currency") or request.program.currency,
            method=data["method"],
            destination=data["destination"],
            source="api",
            source_ref=data.get("source_ref", ""),
            idempotency_key=f"api:{key}",
            provider=data.get("provider"),
        )
        return Response(PayoutOutputSerializer(payout).data, status=status.HTTP_201_CREATED)


class PayoutDetailApi(APIView):
    @extend_schema(responses={200: PayoutOutputSerializer}, summary="Read a payout")
    def get(self, request, payout_id):
        payout = get_object_or_404(Payout.objects.select_related("customer"), pk=payout_id, program=request.program)
        return Response(PayoutOutputSerializer(payout).data)
