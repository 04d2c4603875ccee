"""Reports: METRICS.md section 4 worked examples, the NPS confidence interval, too few responses."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from engagement.hooks import metric_providers
from surveys.answering import categorize
from surveys.models import Invitation, Response, SurveySettings
from surveys.reports import csat_summary, nps_summary, survey_report
from tests.factories import CustomerFactory

JAN = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)
FEB = datetime(2026, 2, 10, 4, 0, tzinfo=UTC)


def add_responses(survey, scores, at, segment="", channel="email"):
    """Completed responses written directly (report tests read rows, not pages)."""
    program = survey.program
    for score in scores:
        customer = CustomerFactory(program=program)
        invitation = Invitation.objects.create(
            program=program,
            survey=survey,
            customer=customer,
            channel=channel,
            status="answered",
            invited_at=at,
            sent_at=at,
            answered_at=at,
        )
        Response.objects.create(
            program=program,
            survey=survey,
            customer=customer,
            invitation=invitation,
            score=score,
            category=categorize(survey.kind, score),
            channel=channel,
            segment=segment,
            completed_at=at,
        )


def test_nps_worked_example_70_promoters_10_detractors_is_60():
    counts = {10: 40, 9: 30, 8: 15, 7: 5, 3: 10}
    summary = nps_summary(counts)
    assert (summary["promoters"], summary["passives"], summary["detractors"], summary["nps"]) == (70, 20, 10, 60.0)
    # 95 % CI: Var(X) = (p + d) - (p - d)^2 = 0.8 - 0.36 = 0.44; half-width 1.96 * 100 * sqrt(0.44 / 100)
    half = 1.96 * 100 * math.sqrt(0.44 / 100)
    assert summary["nps_ci_low"] == round(60 - half, 2) == 47.0
    assert summary["nps_ci_high"] == round(60 + half, 2) == 73.0


def test_nps_is_not_an_average_of_scores():
    # Average 5 on 0..10 but all at the extremes: 50 % promoters, 50 % detractors -> NPS 0.
    assert nps_summary({10: 50, 0: 50})["nps"] == 0.0
    assert nps_summary({0: 1})["nps"] == -100.0
    assert nps_summary({})["nps"] is None


def test_csat_worked_example_400_of_500_is_80():
    assert csat_summary({5: 250, 4: 150, 3: 50, 2: 30, 1: 20}) == {"satisfied": 400, "csat": 80.0}


def test_report_per_period_segment_and_channel_with_too_few_responses(nps, acme):
    SurveySettings.objects.create(program=acme, min_responses_per_period=10)
    add_responses(nps, [10] * 7 + [8] * 2 + [2], JAN, segment="Loyal")
    add_responses(nps, [9, 3, 3], FEB, segment="At risk", channel="sms")

    report = survey_report(nps, period="month")

    assert report["overall"] == {
        "responses": 13,
        "promoters": 8,
        "passives": 2,
        "detractors": 3,
        "nps": round(100 * (8 - 3) / 13, 2),
        "nps_ci_low": report["overall"]["nps_ci_low"],
        "nps_ci_high": report["overall"]["nps_ci_high"],
        "too_few_responses": False,
    }
    january, february = report["periods"]
    assert (january["period_start"], january["responses"], january["nps"], january["too_few_responses"]) == (
        "2026-01-01",
        10,
        60.0,
        False,
    )
    assert (february["period_start"], february["responses"], february["nps"], february["too_few_responses"]) == (
        "2026-02-01",
        3,
        None,
        True,
    )
    assert february["detractors"] == 2  # counts are still given
    assert [(s["segment"], s["responses"], s["nps"]) for s in report["segments"]] == [
        ("At risk", 3, None),
        ("Loyal", 10, 60.0),
    ]
    assert [(c["channel"], c["responses"]) for c in report["channels"]] == [("email", 10), ("sms", 3)]
    assert report["distribution"] == {
        "0": 0, "1": 0, "2": 1, "3": 2, "4": 0, "5": 0, "6": 0, "7": 0, "8": 2, "9": 1, "10": 7,
    }  # fmt: skip
    assert report["response_rate"] == {"value": "100", "numerator": 13, "denominator": 13, "unit": "percent"}


def test_report_range_filters_by_completion_time(nps, acme):
    SurveySettings.objects.create(program=acme, min_responses_per_period=1)
    add_responses(nps, [10], JAN)
    add_responses(nps, [0], FEB)

    report = survey_report(nps, start=FEB - timedelta(days=1), end=FEB + timedelta(days=1))

    assert report["overall"]["responses"] == 1
    assert report["overall"]["nps"] == -100.0


def test_csat_and_ces_reports(csat, acme):
    from tests.surveys.factories import make_survey

    SurveySettings.objects.create(program=acme, min_responses_per_period=1)
    add_responses(csat, [5, 4, 2, 1], JAN)
    ces = make_survey(acme, "ces")
    add_responses(ces, [7, 5, 2, 1], JAN)

    assert survey_report(csat)["overall"]["csat"] == 50.0
    overall = survey_report(ces)["overall"]
    assert (overall["ces"], overall["ces_pct_5_7"]) == (3.75, 50.0)


def test_response_rate_metric_is_answered_over_delivered(nps, acme, alice, bob):
    provider = metric_providers()["response_rate"]
    base = {"program": acme, "survey": nps, "channel": "email"}
    Invitation.objects.create(customer=alice, status="answered", sent_at=JAN, answered_at=JAN, **base)
    Invitation.objects.create(customer=bob, status="delivered", sent_at=JAN, **base)
    carol = CustomerFactory(program=acme)
    Invitation.objects.create(customer=carol, status="failed", sent_at=JAN, failed_at=JAN, **base)
    dave = CustomerFactory(program=acme)
    Invitation.objects.create(customer=dave, status="queued", **base)  # never sent: not counted

    value = provider(acme, JAN - timedelta(days=1), JAN + timedelta(days=1))

    assert (value.value, value.numerator, value.denominator, value.unit) == (50, 1, 2, "percent")
    empty = provider(acme, FEB, FEB + timedelta(days=1))
    assert (empty.value, empty.denominator) == (None, 0)


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_every_period_size_groups_by_program_local_time(nps, acme, period):
    SurveySettings.objects.create(program=acme, min_responses_per_period=1)
    # 2026-01-31 20:00 UTC is already 1 February in Kuala Lumpur (UTC+8).
    add_responses(nps, [10], datetime(2026, 1, 31, 20, 0, tzinfo=UTC))

    starts = [p["period_start"] for p in survey_report(nps, period=period)["periods"]]

    assert starts == [{"day": "2026-02-01", "week": "2026-01-26", "month": "2026-02-01"}[period]]
