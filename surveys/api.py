"""Partner API for surveys (API.md): list, send, responses, report. Views parse and delegate."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from engagement.customers import get_customer
from engagement.errors import NotFound
from engagement.partner_api.errors import ApiError
from engagement.partner_api.idempotency import IDEMPOTENCY_HEADER, idempotent
from engagement.partner_api.pagination import PageNumberPagination, paginated
from engagement.partner_api.params import TIME_SCHEMA, parse_bool_param, parse_choice_param, parse_time_param
from surveys.models import CHANNELS, Invitation, Response, Survey
from surveys.reports import PERIODS, survey_report
from surveys.sending import send_survey


def get_survey(program, survey_id):
    """The program's survey, or 404 (another program's survey is a 404 too)."""
    survey = Survey.objects.select_related("program").filter(program=program, pk=survey_id).first()
    if survey is None:
        raise NotFound("No such survey.")
    return survey


class QuestionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    position = serializers.IntegerField()
    text = serializers.SerializerMethodField()
    scale_min = serializers.IntegerField()
    scale_max = serializers.IntegerField()
    choices = serializers.JSONField()
    required = serializers.BooleanField()
    is_followup = serializers.BooleanField()

    def get_text(self, question) -> dict:
        return {"en": question.text_en, "ar": question.text_ar, "ms": question.text_ms}


class SurveyOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    is_active = serializers.BooleanField()
    channels = serializers.ListField(child=serializers.CharField())
    link_validity_days = serializers.IntegerField()
    reminder_delay_hours = serializers.IntegerField(allow_null=True)
    recontact_days = serializers.IntegerField(source="get_recontact_days")
    throttled_action = serializers.CharField()
    questions = QuestionOutputSerializer(many=True)


class SurveyListApi(APIView):
    @extend_schema(
        responses={200: paginated(SurveyOutputSerializer)},
        parameters=[
            OpenApiParameter("kind", str, enum=list(Survey.Kind.values)),
            OpenApiParameter("active", bool),
        ],
        summary="List surveys",
    )
    def get(self, request):
        surveys = Survey.objects.filter(program=request.program).prefetch_related("questions").order_by("id")
        if kind := parse_choice_param(request, "kind", Survey.Kind.values):
            surveys = surveys.filter(kind=kind)
        if (active := parse_bool_param(request, "active")) is not None:
            surveys = surveys.filter(is_active=active)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(surveys, request, view=self)
        return paginator.get_paginated_response(SurveyOutputSerializer(page, many=True).data)


class SendInputSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=128, help_text="The customer's external id.")
    channel = serializers.ChoiceField(choices=CHANNELS, required=False, help_text="Default: the survey's first.")


class SendOutputSerializer(serializers.Serializer):
    invitation = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="queued, held (throttled, sent later) or skipped.")
    channel = serializers.CharField(allow_null=True)
    link = serializers.CharField(allow_null=True, help_text="The signed answer link (null while held).")
    expires_at = serializers.DateTimeField(allow_null=True)
    skipped_reason = serializers.CharField(allow_blank=True)


def send_output(result):
    invitation = result.invitation
    if invitation is None:
        return {
            "invitation": None,
            "status": "skipped",
            "channel": None,
            "link": None,
            "expires_at": None,
            "skipped_reason": result.skipped_reason,
        }
    held = invitation.status == Invitation.Status.HELD
    return {
        "invitation": invitation.pk,
        "status": invitation.status,
        "channel": invitation.channel,
        "link": None if held else invitation.get_link(),
        "expires_at": invitation.expires_at,
        "skipped_reason": invitation.hold_reason if held else "",
    }


class SurveySendApi(APIView):
    @extend_schema(
        request=SendInputSerializer,
        responses={201: SendOutputSerializer, 202: SendOutputSerializer, 200: SendOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Send a survey to a customer now (transactional survey)",
        description="201: invitation created and queued on its channel (link in the answer). 202: throttled "
        "and held until the customer is eligible (survey set to hold). 200: not sent; skipped_reason says why "
        "(recontact_window, cooldown, no_consent, survey_inactive, erased, channel). Idempotency-Key honoured.",
    )
    @idempotent
    def post(self, request, survey_id):
        survey = get_survey(request.program, survey_id)
        data = SendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = get_customer(request.program, data.validated_data["customer"], attr="customer")
        key = request.headers.get("Idempotency-Key")
        result = send_survey(
            survey=survey,
            customer=customer,
            source="api",
            idempotency_key=f"api:{key}" if key else None,
            channel=data.validated_data.get("channel"),
            transactional=True,
        )
        if result.invitation is None:
            code = status.HTTP_200_OK
        elif result.invitation.status == Invitation.Status.HELD:
            code = status.HTTP_202_ACCEPTED
        else:
            code = status.HTTP_201_CREATED
        return ApiResponse(SendOutputSerializer(send_output(result)).data, status=code)


class ResponseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    invitation = serializers.IntegerField(source="invitation_id")
    customer = serializers.CharField(source="customer.external_id")
    score = serializers.IntegerField(allow_null=True)
    category = serializers.CharField()
    channel = serializers.CharField()
    segment = serializers.CharField()
    locale = serializers.CharField()
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    answers = serializers.SerializerMethodField()

    def get_answers(self, response) -> list:
        out = []
        for answer in response.answers.all():
            value = answer.value_int if answer.value_int is not None else (answer.value_choices or answer.value_text)
            out.append({"question": answer.question_id, "value": value})
        return out


class SurveyResponsesApi(APIView):
    @extend_schema(
        responses={200: paginated(ResponseOutputSerializer)},
        parameters=[
            OpenApiParameter("start", TIME_SCHEMA, description="RFC 3339; completed at or after."),
            OpenApiParameter("end", TIME_SCHEMA, description="RFC 3339; completed before."),
            OpenApiParameter("category", str, enum=[c for c in Response.Category.values if c]),
        ],
        summary="Completed responses of a survey, newest first",
    )
    def get(self, request, survey_id):
        survey = get_survey(request.program, survey_id)
        responses = (
            Response.objects.filter(survey=survey, completed_at__isnull=False)
            .select_related("customer")
            .prefetch_related("answers")
            .order_by("-completed_at", "-id")
        )
        if start := parse_time_param(request, "start"):
            responses = responses.filter(completed_at__gte=start)
        if end := parse_time_param(request, "end"):
            responses = responses.filter(completed_at__lt=end)
        if category := parse_choice_param(request, "category", [c for c in Response.Category.values if c]):
            responses = responses.filter(category=category)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(responses, request, view=self)
        return paginator.get_paginated_response(ResponseOutputSerializer(page, many=True).data)


class SurveyReportApi(APIView):
    @extend_schema(
        responses={200: dict},
        parameters=[
            OpenApiParameter("start", TIME_SCHEMA, description="RFC 3339; responses completed at or after."),
            OpenApiParameter("end", TIME_SCHEMA, description="RFC 3339; responses completed before."),
            OpenApiParameter("period", str, enum=list(PERIODS), description="Default month."),
        ],
        summary="NPS / CSAT / CES report of a survey",
        description="Overall, per period (program time zone), per segment and per channel; score distribution; "
        "response rate. NPS = % promoters - % detractors with a 95 % confidence interval; groups under the "
        "program's minimum number of responses have null scores and too_few_responses = true.",
    )
    def get(self, request, survey_id):
        survey = get_survey(request.program, survey_id)
        period = request.query_params.get("period") or "month"
        if period not in PERIODS:
            raise ApiError(f"period must be one of {', '.join(PERIODS)}.", code="invalid", attr="period")
        start, end = parse_time_param(request, "start"), parse_time_param(request, "end")
        if start and end and start >= end:
            raise ApiError("start must be before end.", code="invalid", attr="start")
        return ApiResponse(survey_report(survey, start, end, period=period))
