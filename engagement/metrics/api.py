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

from engagement import metrics, purchase_models
from engagement.errors import NotFound
from engagement.metrics.customer_engagement import get_customer_engagement
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


def parse_day(request, name):
    """A YYYY-MM-DD query parameter as a date, None if absent; 400 otherwise."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        day = parse_date(raw) if len(raw) == 10 else None
    except ValueError:  # well formed but no such day (2025-02-30)
        day = None
    if day is None:
        raise ApiError(f"{name} must be a date (YYYY-MM-DD).", attr=name)
    return day


def _fixed(value, places):
    return None if value is None else f"{value:.{places}f}"


def _model_fields(value, fit_as_of, score):
    """The model's values (the customer's row under the fit) or, without one, the rule's churn risk."""
    if value is None:
        return {
            "churn_risk": str(score.churn_risk) if score else None,
            "churn_risk_method": "rule" if score else None,
            **dict.fromkeys(("p_alive", "expected_purchases_90d", "expected_purchases_365d"), None),
            **dict.fromkeys(("expected_spend", "predicted_clv", "as_of"), None),
        }
    return {
        "churn_risk": str(value.churn_risk),
        "churn_risk_method": "model",
        "p_alive": _fixed(value.p_alive, 3),
        "expected_purchases_90d": _fixed(value.expected_purchases_90d, 3),
        "expected_purchases_365d": _fixed(value.expected_purchases_365d, 3),
        "expected_spend": None if value.expected_spend is None else str(value.expected_spend),
        "predicted_clv": None if value.predicted_clv is None else str(value.predicted_clv),
        "as_of": fit_as_of.isoformat(),
    }


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
            "churn_risk": serializers.CharField(
                allow_null=True, help_text="0..1, 3 places: P(no purchase in the churn horizon)."
            ),
            "churn_risk_method": serializers.ChoiceField(
                choices=["model", "rule"],
                allow_null=True,
                help_text="model: the program's BG/NBD fit; rule: days since last event / (2 × median gap).",
            ),
            "p_alive": serializers.CharField(allow_null=True, help_text="BG/NBD P(alive), 3 places."),
            "expected_purchases_90d": serializers.CharField(allow_null=True, help_text="3 places."),
            "expected_purchases_365d": serializers.CharField(allow_null=True, help_text="3 places."),
            "expected_spend": serializers.CharField(allow_null=True, help_text="Gamma-Gamma, per purchase."),
            "predicted_clv": serializers.CharField(
                allow_null=True, help_text="Next 12 months, discounted (docs/engagement.md)."
            ),
            "currency": serializers.CharField(),
            "as_of": serializers.DateField(
                allow_null=True, help_text="The as_of of the model fit the values are from; null under the rule."
            ),
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
        "incrementally a few minutes after new events). Churn risk, P(alive), expected purchases and "
        "CLV come from the program's latest usable purchase-model fit (weekly) when the customer has "
        "purchased; otherwise churn risk is the rule's and the model fields are null.",
        parameters=[
            OpenApiParameter(
                "as_of", str, description="YYYY-MM-DD: the values of the fit made with that as_of (404 if none)."
            )
        ],
        responses={200: OutputSerializer},
    )
    def get(self, request, external_id):
        # One statement (engagement.metrics.customer_engagement). A bad as_of is reported
        # after an unknown customer, as before: the customer's 404 comes first.
        try:
            as_of, bad_as_of = parse_day(request, "as_of"), None
        except ApiError as exc:
            as_of, bad_as_of = None, exc
        found = get_customer_engagement(request.program.pk, external_id, as_of)
        if found is None:
            raise NotFound(f"No customer {external_id!r} in this program.")
        if bad_as_of is not None:
            raise bad_as_of
        if as_of is not None and found.fit_as_of is None:
            raise ApiError(f"No usable model fit as of {as_of}.", code="unknown_fit", attr="as_of", status_code=404)
        score = found.score
        return Response(
            {
                **_model_fields(found.value, found.fit_as_of, score),
                "currency": request.program.currency,
                "customer": found.external_id,
                "engagement_score": str(score.engagement_score) if score else None,
                "r_score": score.r_score if score else None,
                "f_score": score.f_score if score else None,
                "m_score": score.m_score if score else None,
                "segment": score.segment if score else None,
                "scored_at": score.scored_at.isoformat() if score else None,
                "last_activity_at": found.last_seen_at.isoformat() if found.last_seen_at else None,
                "event_count": found.event_count,
                "purchase_count": found.purchase_count,
                "revenue": str(found.revenue),
                "channels": {kind: {"count": count, "last_at": at.isoformat()} for kind, count, at in found.channels},
            }
        )


class PurchaseModelsApi(APIView):
    OutputSerializer = inline_serializer(
        "PurchaseModels",
        {
            "models": serializers.ListField(
                child=inline_serializer(
                    "PurchaseModelFit",
                    {
                        "kind": serializers.ChoiceField(choices=["bgnbd", "gamma_gamma"]),
                        "as_of": serializers.DateField(
                            help_text="Fitted on the purchases before this date (program time zone)."
                        ),
                        "fitted_at": serializers.DateTimeField(),
                        "parameters": serializers.DictField(
                            child=serializers.FloatField(),
                            help_text="bgnbd: r, alpha, a, b; gamma_gamma: p, q, gamma (money units).",
                        ),
                        "time_unit": serializers.CharField(help_text="Always week."),
                        "log_likelihood": serializers.FloatField(allow_null=True),
                        "customers": serializers.IntegerField(help_text="Customers the model was fitted on."),
                        "repeat_buyers": serializers.IntegerField(),
                        "converged": serializers.BooleanField(),
                        "used": serializers.BooleanField(
                            help_text="Converged on enough repeat buyers: its values replace the churn rule."
                        ),
                        "backtest": serializers.DictField(
                            help_text="bgnbd only: calibration_end, holdout_weeks, weeks [{week, predicted, "
                            "actual}] (cumulative repeat transactions), predicted_total, actual_total, "
                            "total_error, total_error_percent, mape, and the calibration fit's parameters."
                        ),
                    },
                )
            )
        },
    )

    @extend_schema(
        operation_id="purchase_models",
        summary="The program's latest purchase-model fits (BG/NBD, Gamma-Gamma) with their backtest",
        description="One entry per kind: the latest fit, or with as_of the fits made as of that date "
        "(404 if none). Fitted weekly and by `manage.py fit_models`; docs/engagement.md explains them.",
        parameters=[OpenApiParameter("as_of", str, description="YYYY-MM-DD: the fits made with that as_of.")],
        responses={200: OutputSerializer},
    )
    def get(self, request):
        as_of = parse_day(request, "as_of")
        fits = purchase_models.get_fits(request.program, as_of)
        if as_of is not None and not fits:
            raise ApiError(f"No model fit as of {as_of}.", code="unknown_fit", attr="as_of", status_code=404)
        return Response(
            {
                "models": [
                    {
                        "kind": fit.kind,
                        "as_of": fit.as_of.isoformat(),
                        "fitted_at": fit.fitted_at.isoformat(),
                        "parameters": fit.parameters,
                        "time_unit": "week",
                        "log_likelihood": fit.log_likelihood,
                        "customers": fit.customers,
                        "repeat_buyers": fit.repeat_buyers,
                        "converged": fit.converged,
                        "used": fit.usable,
                        "backtest": fit.backtest,
                    }
                    for fit in fits
                ]
            }
        )
