"""Partner API: balance, ledger, grants, adjustments, catalogue, redemptions (API.md).
Views parse and delegate (STYLE.md); every query is filtered by request.program.

Idempotency: POSTs honour the Idempotency-Key header or, without one, the body's
`idempotency_key` (engagement.partner_api.idempotency replays the first response, 422 for
another body) AND derive the ledger/redemption key from it (or from the body's
`idempotency_key`), so a repeat never grants twice even after the replay record expires.
One of the two is required.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.customers import customer_not_found, get_customer
from engagement.partner_api.errors import ApiError
from engagement.partner_api.idempotency import IDEMPOTENCY_HEADER, idempotent
from engagement.partner_api.pagination import CursorPagination, paginated
from engagement.partner_api.params import parse_choice_param
from rewards import balances, catalogue, ledger, redemptions, vouchers
from rewards.forms import CharityForm, ShippingAddressForm
from rewards.models import Charity, EntryKind, LedgerEntry, RewardKind
from rewards.serializers import (
    AdjustmentInputSerializer,
    BalanceOutputSerializer,
    GrantInputSerializer,
    LedgerEntryOutputSerializer,
    RedemptionInputSerializer,
    RedemptionOutputSerializer,
    RewardOutputSerializer,
    VoucherCodeOutputSerializer,
)


def idempotency_key(request, data, operation):
    key = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if not key:
        raise ApiError(
            "Send an Idempotency-Key header (or idempotency_key in the body).", code="required", attr="Idempotency-Key"
        )
    return f"api:{operation}:{key}"[:255]


def same_entry(entry, customer, points):
    """Refuse (422) a ledger key that already holds another customer's or amount's entry: the
    replay record may have been purged, the ledger key never is."""
    if entry.customer_id != customer.pk or (entry.points or entry.pending_points) != points:
        raise ApiError(
            "This idempotency key was already used with a different request.",
            code="idempotency_key_reused",
            attr="idempotency_key",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )


def customer_or_404(request, external_id, attr=None):
    return get_customer(request.program, external_id, attr=attr)


# The balance's output fields, built once per process: DRF deep-copies a serializer's declared
# fields for every instance (about 70 µs, a tenth of this endpoint's Python); to_representation
# keeps nothing between calls, so one instance serves every request and thread.
BALANCE_OUTPUT = BalanceOutputSerializer()


class CustomerBalanceApi(APIView):
    @extend_schema(responses={200: BalanceOutputSerializer}, summary="Points balance, pending, expiring soon, tier")
    def get(self, request, external_id):
        # The customer and the figures in one statement (the endpoint's whole read).
        found = balances.find_customer_balance(request.program, external_id)
        if found is None:
            raise customer_not_found(external_id)
        customer, summary = found
        return Response(
            BALANCE_OUTPUT.to_representation(
                {
                    "customer": customer.external_id,
                    "balance": summary["balance"],
                    "pending": summary["pending"],
                    "held": summary["held"],
                    "expiring_soon": summary["expiring_soon"],
                    "tier": customer.tier,
                    "points_name": request.program.points_name,
                }
            )
        )


class CustomerLedgerApi(APIView):
    @extend_schema(
        responses={200: paginated(LedgerEntryOutputSerializer, cursor=True)},
        parameters=[OpenApiParameter("kind", str, enum=EntryKind.values)],
        summary="Ledger entries, newest first (cursor pages)",
    )
    def get(self, request, external_id):
        customer = customer_or_404(request, external_id)
        entries = LedgerEntry.objects.filter(program=request.program, customer=customer).select_related("customer")
        if kind := parse_choice_param(request, "kind", EntryKind.values):
            entries = entries.filter(kind=kind)
        paginator = CursorPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(LedgerEntryOutputSerializer(page, many=True).data)


class PointsGrantApi(APIView):
    @extend_schema(
        request=GrantInputSerializer,
        responses={201: LedgerEntryOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Grant points (idempotent)",
    )
    @idempotent(body_key=True)
    def post(self, request):
        serializer = GrantInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = idempotency_key(request, data, "grant")
        customer = customer_or_404(request, data["customer"], attr="customer")
        entry = ledger.grant_points(
            customer=customer, points=data["points"], reason=data["reason"], idempotency_key=key,
            actor=f"api:{request.auth.prefix}" if request.auth else "api", source=("api", key[-128:]),
            expires_at=data.get("expires_at"),
        )  # fmt: skip
        same_entry(entry, customer, data["points"])
        return Response(LedgerEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)


class PointsAdjustmentApi(APIView):
    @extend_schema(
        request=AdjustmentInputSerializer,
        responses={201: LedgerEntryOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Signed manual adjustment with a reason; cannot overdraw (409)",
    )
    @idempotent(body_key=True)
    def post(self, request):
        serializer = AdjustmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = idempotency_key(request, data, "adjust")
        customer = customer_or_404(request, data["customer"], attr="customer")
        entry = ledger.adjust_points(
            customer=customer, points=data["points"], reason=data["reason"], idempotency_key=key,
            actor=f"api:{request.auth.prefix}" if request.auth else "api",
        )  # fmt: skip
        same_entry(entry, customer, data["points"])
        return Response(LedgerEntryOutputSerializer(entry).data, status=status.HTTP_201_CREATED)


class RewardListApi(APIView):
    @extend_schema(
        operation_id="v1_rewards_list",
        responses={200: inline_serializer("RewardList", {"results": RewardOutputSerializer(many=True)})},
        parameters=[OpenApiParameter("customer", str, description="External id: adds eligibility and affordability.")],
        summary="Catalogue (for a customer: eligibility and cost)",
    )
    def get(self, request):
        customer = None
        if external_id := request.query_params.get("customer"):
            customer = customer_or_404(request, external_id, attr="customer")
        items = catalogue.list_catalogue(request.program, customer)
        return Response({"results": RewardOutputSerializer(items, many=True).data})


class RedemptionCreateApi(APIView):
    @extend_schema(
        request=RedemptionInputSerializer,
        responses={201: RedemptionOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Redeem points for a catalogue reward (idempotent)",
    )
    @idempotent(body_key=True)
    def post(self, request):
        serializer = RedemptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = idempotency_key(request, data, "redeem")
        customer = customer_or_404(request, data["customer"], attr="customer")
        item = catalogue.get_item(request.program, data["reward"])
        if item is None:
            raise Http404("No such reward.")
        redemption = redemptions.redeem_reward(
            customer=customer,
            item=item,
            idempotency_key=key,
            channel="api",
            product=data["product"],
            fulfilment=fulfilment_details(item, data),
        )
        redemption = redemptions.get_redemption(request.program, redemption.pk)
        return Response(RedemptionOutputSerializer(redemption).data, status=status.HTTP_201_CREATED)


def fulfilment_details(item, data):
    """The shipping address / charity of a redemption request, checked by the portal's own
    forms (same rules, same messages); raises ValidationError (400, nothing created) for a
    missing or bad one, or one given for a reward that takes none."""
    address, charity = data.get("shipping_address"), data.get("charity")
    if item.kind != RewardKind.MERCHANDISE and address is not None:
        raise ValidationError({"shipping_address": ["Only a merchandise reward is shipped."]}, code="invalid")
    if item.kind != RewardKind.DONATION and charity is not None:
        raise ValidationError({"charity": ["Only a donation reward goes to a charity."]}, code="invalid")
    if item.kind == RewardKind.MERCHANDISE:
        if address is None:
            raise ValidationError(
                {"shipping_address": ["A merchandise reward needs a shipping address."]}, code="required"
            )
        form = ShippingAddressForm({f"ship_{name}": value for name, value in address.items()})
        if not form.is_valid():
            raise ValidationError({"shipping_address": _form_errors(form, "ship_")})
        return form.cleaned_data
    if item.kind == RewardKind.DONATION:
        charities = list(Charity.objects.filter(program_id=item.program_id, active=True))
        if not charities:
            return None
        form = CharityForm({"charity": charity}, charities=charities)
        if charity is None or not form.is_valid():
            why = "Choose one of the charities offered (`charities` in GET /rewards)."
            raise ValidationError({"charity": [why]}, code="required" if charity is None else "invalid_choice")
        return {"charity": form.cleaned_data["charity"]}
    return None


def _form_errors(form, prefix):
    """A Django form's errors as DRF's nested {field: [ErrorDetail]} under the API's names."""
    return {
        name.removeprefix(prefix): [
            ErrorDetail(str(e.message % (e.params or {})), code=e.code or "invalid") for e in errs
        ]
        for name, errs in form.errors.as_data().items()
    }


class VoucherUseApi(APIView):
    @extend_schema(
        request=None,
        responses={200: VoucherCodeOutputSerializer},
        summary="Mark an issued voucher code used (at checkout)",
        description="404 voucher_not_found for a code this program never handed out (or another program's); "
        "409 voucher_used when it was already used. Nothing changes on an error.",
    )
    def post(self, request, code):
        voucher = vouchers.use_code(request.program, code)
        return Response(VoucherCodeOutputSerializer(voucher).data)


class RedemptionDetailApi(APIView):
    @extend_schema(responses={200: RedemptionOutputSerializer}, summary="A redemption: status and fulfilment")
    def get(self, request, redemption_id):
        redemption = redemptions.get_redemption(request.program, redemption_id)
        if redemption is None:
            raise Http404("No such redemption.")
        return Response(RedemptionOutputSerializer(redemption).data)
