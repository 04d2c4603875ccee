"""Partner API: metric values and a customer's engagement. Views parse and delegate."""

import zoneinfo
from datetime import datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement import customers as customer_services
from engagement import metrics
from engagement.models import CustomerScore
from engagement.partner_api.errors import ApiError
from engagement.partner_api.params import DATE_SCHEMA, TIME_RANGE_MESSAGE, TIME_SCHEMA, in_time_range

DEFAULT_PERIOD = timedelta(days=30)
# start/end as the schema documents them: a date-time with offset, or a plain date.
INSTANT = {"anyOf": [TIME_SCHEMA, DATE_SCHEMA]}


def parse_instant(request, name, program):
    """RFC 3339 date-time with offset, or a plain date (midnight in the program's time zone)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    raw = raw.replace(" ", "+")
    try:
        value, day = parse_datetime(raw), parse_date(raw) if len(raw) == 10 else None
    except ValueError:
        value = day = None
    if (value is None or value.tzinfo is None) and day is not None:
        value = datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(program.timezone))
    if value is not None and value.tzinfo is not None:
        if not in_time_range(value):
            raise ApiError(f"{name} {TIME_RANGE_MESSAGE}", code="out_of_range", attr=name)
        return value
    raise ApiError(f"{name} must be an RFC 3339 date-time with offset or a date (YYYY-MM-DD).", attr=name)


@extend_schema_field({"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True})
class NumberField(serializers.Field):
    """A figure as the metrics answer it: a decimal string, an integer (counts) or null."""


class MetricValueSerializer(serializers.Serializer):
    value = NumberField(help_text="Decimal string (2 places); integer for counts; null = no data.")
    numerator = NumberField()
    denominator = NumberField()
    unit = serializers.CharField(help_text="percent, count, money, seconds, years, per_year, score, points")


class MetricsApi(APIView):
    class OutputSerializer(serializers.Serializer):
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()
        segment = serializers.CharField(allow_null=True)
        currency = serializers.CharField()
        filters = serializers.DictField(child=serializers.CharField())
        metrics = serializers.DictField(child=MetricValueSerializer())

    @extend_schema(
        operation_id="metrics_list",
        summary="Metric values (METRICS.md) for a period, with numerator and denominator",
        description="Rates are percentages 0..100; a rate whose denominator is zero has value null. "
        "Loyalty metrics and response_rate are null until rewards/surveys provide them. "
        "Unknown names or segments and bad dates are 400s.",
        parameters=[
            OpenApiParameter("names", str, description="Comma-separated metric names; default: all."),
            OpenApiParameter(
                "start", INSTANT, description="RFC 3339 or YYYY-MM-DD (program time zone); default end − 30 days."
            ),
            OpenApiParameter("end", INSTANT, description="Exclusive; RFC 3339 or YYYY-MM-DD; default now."),
            OpenApiParameter("segment", str, description="RFM segment name, e.g. Champions."),
            OpenApiParameter("page", str, description="Page url for exit_rate and page_views."),
            OpenApiParameter("network", str, description="Network for the social counts."),
            OpenApiParameter("message_id", str, description="Message/campaign for the email metrics."),
        ],
        responses={200: OutputSerializer},
        examples=[
            OpenApiExample(
                "NPS",
                response_only=True,
                value={
                    "start": "2025-01-01T00:00:00+08:00",
                    "end": "2025-02-01T00:00:00+08:00",
                    "segment": None,
                    "currency": "MYR",
                    "filters": {},
                    "metrics": {"nps": {"value": "60.00", "numerator": 6, "denominator": 10, "unit": "score"}},
                },
            )
        ],
    )
    def get(self, request):
        program = request.program
        end = parse_instant(request, "end", program) or timezone.now()
        start = parse_instant(request, "start", program) or end - DEFAULT_PERIOD
        if start >= end:
            raise ApiError("start must be before end.", attr="start")
        raw_names = request.query_params.get("names", "")
        names = [n.strip() for n in raw_names.split(",") if n.strip()] or metrics.metric_names()
        segment = request.query_params.get("segment") or None
        filters = {k: request.query_params[k] for k in ("page", "network", "message_id") if request.query_params.get(k)}
        try:
            values = metrics.compute_metrics(program, names, start, end, segment, **filters)
        except metrics.UnknownMetric as exc:
            raise ApiError(str(exc), code="unknown_metric", attr="names") from None
        except ValueError as exc:
            raise ApiError(str(exc), code="unknown_segment", attr="segment") from None
        return Response(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "segment": segment,
                "currency": program.currency,
                "filters": filters,
                "metrics": {name: metrics.format_metric(name, value) for name, value in values.items()},
            }
        )


class CustomerEngagementApi(APIView):
    OutputSerializer = inline_serializer(
        "CustomerEngagement",
        {
            "customer": serializers.CharField(),
            "engagement_score": serializers.CharField(allow_null=True),
            "r_score": serializers.IntegerField(allow_null=True),
            "f_score": serializers.IntegerField(allow_null=True),
            "m_score": serializers.IntegerField(allow_null=True),
            "segment": serializers.CharField(allow_null=True),
            "churn_risk": serializers.CharField(allow_null=True),
            "scored_at": serializers.DateTimeField(allow_null=True),
            "last_activity_at": serializers.DateTimeField(allow_null=True),
            "event_count": serializers.IntegerField(),
            "purchase_count": serializers.IntegerField(),
            "revenue": serializers.CharField(),
            "channels": serializers.DictField(
                child=inline_serializer(
                    "EventTypeCount", {"count": serializers.IntegerField(), "last_at": serializers.DateTimeField()}
                ),
                help_text="Per event type: count and latest time.",
            ),
        },
    )

    @extend_schema(
        operation_id="customer_engagement",
        summary="A customer's engagement score, RFM scores and segment, churn risk and activity",
        description="Scores are null until the customer's program has been scored (nightly, and "
        "incrementally a few minutes after new events).",
        responses={200: OutputSerializer},
    )
    def get(self, request, external_id):
        customer = customer_services.get_customer(request.program, external_id)
        score = CustomerScore.objects.filter(customer=customer).first()
        counts = customer.event_counts.order_by("type")
        return Response(
            {
                "customer": customer.external_id,
                "engagement_score": str(score.engagement_score) if score else None,
                "r_score": score.r_score if score else None,
                "f_score": score.f_score if score else None,
                "m_score": score.m_score if score else None,
                "segment": score.segment if score else None,
                "churn_risk": str(score.churn_risk) if score else None,
                "scored_at": score.scored_at.isoformat() if score else None,
                "last_activity_at": customer.last_seen_at.isoformat() if customer.last_seen_at else None,
                "event_count": customer.event_count,
                "purchase_count": customer.purchase_count,
                "revenue": str(customer.revenue),
                "channels": {c.type: {"count": c.count, "last_at": c.last_at.isoformat()} for c in counts},
            }
        )
