"""Partner API of checkout (docs/checkout.md): cart evaluation, reservations of points
(hold, confirm, cancel) and code validation. Views parse and delegate; every query is
filtered by request.program; texts are in the customer's language.
"""

from datetime import timedelta

from django.utils import timezone, translation
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.customers import get_customer
from engagement.errors import ValidationFailed
from engagement.partner_api.idempotency import IDEMPOTENCY_HEADER, idempotent
from rewards.checkout import promotions, reservations
from rewards.checkout.errors import CodeNotFound, CurrencyMismatch, ReservationNotFound
from rewards.checkout.evaluation import currency_places, evaluate_cart, to_dict
from rewards.checkout.models import Reservation
from rewards.checkout.rules import Line
from rewards.checkout.serializers import (
    CartInputSerializer,
    CodeOutputSerializer,
    EvaluationOutputSerializer,
    ReservationInputSerializer,
    ReservationOutputSerializer,
)


def parse_cart(request, serializer_class):
    """(validated data, customer, lines) of a cart body; 400 for another currency or a price
    with more decimals than the currency has; 404 for an unknown customer."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    program = request.program
    if data["currency"] != program.currency:
        raise CurrencyMismatch(f"This program's currency is {program.currency}.")
    places = currency_places(program.currency)
    problems = [
        (f"lines.{i}.unit_price", f"{program.currency} allows {places} decimal places.")
        for i, line in enumerate(data["lines"])
        if -line["unit_price"].normalize().as_tuple().exponent > places
    ]
    if problems:
        raise ValidationFailed(problems=problems, code="max_decimal_places")
    customer = get_customer(program, data["customer"], attr="customer")
    lines = [
        Line(item["sku"], item.get("category", ""), item["quantity"], item["unit_price"], tuple(item.get("tags", [])))
        for item in data["lines"]
    ]
    return data, customer, lines


class CheckoutEvaluateApi(APIView):
    @extend_schema(
        request=CartInputSerializer,
        responses={200: EvaluationOutputSerializer},
        summary="Evaluate a cart: points earned, discounts, points that may pay (no side effects)",
    )
    def post(self, request):
        data, customer, lines = parse_cart(request, CartInputSerializer)
        with translation.override(customer.get_locale()):
            evaluation = evaluate_cart(request.program, customer, lines, data["codes"])
            return Response(to_dict(evaluation, customer))


def reservation_answer(reservation, created=False):
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response(ReservationOutputSerializer(reservation).data, status=code)


class ReservationCreateApi(APIView):
    @extend_schema(
        request=ReservationInputSerializer,
        responses={201: ReservationOutputSerializer, 200: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Hold points (and codes) for an order (idempotent by order_id)",
        description="201 with a new hold; 200 with the existing one for a repeat of the same order. "
        "409 insufficient_points, points_over_limit, code_refused (one entry per code), order_already_reserved.",
    )
    @idempotent
    def post(self, request):
        data, customer, lines = parse_cart(request, ReservationInputSerializer)
        ttl = timedelta(seconds=data["ttl_seconds"]) if data.get("ttl_seconds") else None
        with translation.override(customer.get_locale()):
            reservation, created = reservations.reserve_points(
                program=request.program, customer=customer, order_id=data["order_id"], lines=lines,
                codes=data["codes"], points=data["points"], ttl=ttl,
            )  # fmt: skip
        return reservation_answer(reservation, created)


class ReservationConfirmApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="The order is paid: the held points are spent (idempotent)",
        description="409 reservation_expired, reservation_cancelled.",
    )
    @idempotent
    def post(self, request, reservation_id):
        reservation = reservations.confirm_reservation(request.program, reservation_id)
        return reservation_answer(reservation)


class ReservationCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ReservationOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Release a hold: points and codes back (idempotent)",
        description="409 reservation_confirmed (a paid order is undone by a refund event).",
    )
    @idempotent
    def post(self, request, reservation_id):
        reservation = reservations.cancel_reservation(request.program, reservation_id)
        return reservation_answer(reservation)


class ReservationDetailApi(APIView):
    @extend_schema(responses={200: ReservationOutputSerializer}, summary="A reservation and its status")
    def get(self, request, reservation_id):
        reservation = Reservation.objects.filter(program=request.program, pk=reservation_id).first()
        if reservation is None:
            raise ReservationNotFound()
        return reservation_answer(reservation)


class CodeDetailApi(APIView):
    @extend_schema(
        responses={200: CodeOutputSerializer},
        parameters=[OpenApiParameter("customer", str, description="External id: also checks the customer's caps.")],
        summary="Validate a promotion code without using it",
        description="404 for a code this program does not have. `valid` false with a `reason` for one that "
        "cannot be used now (expired, exhausted, not_started, inactive, customer_limit, …).",
    )
    def get(self, request, code):
        row = promotions.find_codes(request.program, [code]).get(promotions.normalise(code))
        if row is None:
            raise CodeNotFound()
        customer = None
        if external_id := request.query_params.get("customer"):
            customer = get_customer(request.program, external_id, attr="customer")
        with translation.override(customer.get_locale() if customer else request.program.default_locale):
            reason = promotions.code_state(row, timezone.now())
            if reason is None and customer is not None:
                reason = promotions.customer_state(row.promotion, customer, row.promotion.min_order_value)
            promotion = row.promotion
            language = translation.get_language()
            answer = {
                "code": row.code, "valid": reason is None, "reason": reason,
                "detail": promotions.reason_text(reason) if reason else None, "promotion": promotion.pk,
                "title": promotion.title(language), "kind": promotion.kind, "level": promotion.level,
                "value": str(promotion.value), "min_order_value": str(promotion.min_order_value),
                "starts_at": promotion.starts_at, "ends_at": promotion.ends_at, "uses": row.uses,
                "max_uses": row.max_uses,
            }  # fmt: skip
        return Response(CodeOutputSerializer(answer).data)
