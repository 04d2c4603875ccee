"""Survey reports (read side): NPS / CSAT / CES per period, segment and channel, the score
distribution and the response rate, exactly as METRICS.md section 4 defines them.

NPS is always % promoters (9-10) - % detractors (0-6) over the responses of the group, never
an average of scores. Its 95 % confidence interval treats each response as a variable X =
+1 (promoter), 0 (passive), -1 (detractor): NPS = 100 * mean(X), with

    p = promoters / n, d = detractors / n
    Var(X) = E[X^2] - E[X]^2 = (p + d) - (p - d)^2
    CI = NPS ± 1.96 * 100 * sqrt(Var(X) / n)        (clipped to -100..100)

A group (period, segment, channel, or the whole range) with fewer responses than the
program's SurveySettings.min_responses_per_period has its score fields set to None and
`too_few_responses` True; its counts are still given.
"""

import math
from collections import defaultdict

from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from engagement.metrics.types import rate
from surveys.models import Invitation, Response, Survey, SurveySettings

PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
Z95 = 1.96


def nps_summary(counts):
    """counts: {score: n}. Returns promoters, passives, detractors, nps and its 95 % CI."""
    n = sum(counts.values())
    promoters = sum(c for s, c in counts.items() if s >= 9)
    detractors = sum(c for s, c in counts.items() if s <= 6)
    out = {"promoters": promoters, "passives": n - promoters - detractors, "detractors": detractors}
    if not n:
        return {**out, "nps": None, "nps_ci_low": None, "nps_ci_high": None}
    p, d = promoters / n, detractors / n
    nps = 100 * (p - d)
    half = Z95 * 100 * math.sqrt(max((p + d) - (p - d) ** 2, 0.0) / n)
    return {
        **out,
        "nps": round(nps, 2),
        "nps_ci_low": round(max(nps - half, -100.0), 2),
        "nps_ci_high": round(min(nps + half, 100.0), 2),
    }


def csat_summary(counts):
    """CSAT = responses scoring 4 or 5 / all responses x 100."""
    n = sum(counts.values())
    satisfied = sum(c for s, c in counts.items() if s >= 4)
    return {"satisfied": satisfied, "csat": round(100 * satisfied / n, 2) if n else None}


def ces_summary(counts):
    """CES = mean of the 1-7 answers; also the % scoring 5-7."""
    n = sum(counts.values())
    easy = sum(c for s, c in counts.items() if s >= 5)
    if not n:
        return {"ces": None, "ces_pct_5_7": None}
    mean = sum(s * c for s, c in counts.items()) / n
    return {"ces": round(mean, 2), "ces_pct_5_7": round(100 * easy / n, 2)}


def mean_summary(counts):
    n = sum(counts.values())
    return {"mean": round(sum(s * c for s, c in counts.items()) / n, 2) if n else None}


SUMMARIES = {"nps": nps_summary, "csat": csat_summary, "ces": ces_summary, "custom": mean_summary}
SCORE_FIELDS = {"nps": ("nps", "nps_ci_low", "nps_ci_high"), "csat": ("csat",), "ces": ("ces", "ces_pct_5_7")}


def summarize(kind, counts, min_responses):
    """One group's figures: responses, distribution and the kind's score (or too few)."""
    n = sum(counts.values())
    out = {"responses": n, **SUMMARIES[kind](counts)}
    out["too_few_responses"] = n < min_responses
    if out["too_few_responses"]:
        for name in SCORE_FIELDS.get(kind, ("mean",)):
            out[name] = None
    return out


def completed_responses(survey, start=None, end=None):
    queryset = Response.objects.filter(survey=survey, completed_at__isnull=False, score__isnull=False)
    if start is not None:
        queryset = queryset.filter(completed_at__gte=start)
    if end is not None:
        queryset = queryset.filter(completed_at__lt=end)
    return queryset


def survey_report(survey, start=None, end=None, period="month", min_responses=None):
    """The whole report of one survey over [start, end): overall, per period (in the
    program's time zone), per segment (at answer time) and per channel, the score
    distribution and the response rate. One grouped query over the responses."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    if min_responses is None:
        min_responses = SurveySettings.for_program(survey.program).min_responses_per_period
    trunc = PERIODS[period]("completed_at", tzinfo=survey.program_timezone())
    rows = (
        completed_responses(survey, start, end)
        .annotate(bucket=trunc)
        .values("bucket", "segment", "channel", "score")
        .annotate(n=Count("id"))
        .order_by()
    )
    overall, by_period, by_segment, by_channel = (
        defaultdict(int),
        defaultdict(dict),
        defaultdict(dict),
        defaultdict(dict),
    )
    for row in rows:
        score, n = row["score"], row["n"]
        overall[score] += n
        for groups, key in ((by_period, row["bucket"]), (by_segment, row["segment"]), (by_channel, row["channel"])):
            groups[key][score] = groups[key].get(score, 0) + n
    kind = survey.kind

    def grouped(groups, label):
        return [{label: key, **summarize(kind, counts, min_responses)} for key, counts in sorted(groups.items())]

    low, high = _scale(survey)
    return {
        "survey": survey.pk,
        "kind": kind,
        "start": start,
        "end": end,
        "period": period,
        "min_responses": min_responses,
        "overall": summarize(kind, overall, min_responses),
        "periods": [
            {"period_start": key.date().isoformat(), **summarize(kind, counts, min_responses)}
            for key, counts in sorted(by_period.items())
        ],
        "segments": grouped(by_segment, "segment"),
        "channels": grouped(by_channel, "channel"),
        "distribution": {str(score): overall.get(score, 0) for score in range(low, high + 1)},
        "response_rate": response_rate(survey.program, start, end, survey=survey).as_dict(),
    }


def _scale(survey):
    question = survey.get_primary_question()
    if question is None:
        return 0, -1
    return question.scale_min, question.scale_max


def response_rate(program, start=None, end=None, segment=None, survey=None):
    """METRICS.md: responses / invitations delivered x 100.

    Delivered = sent by the channel during [start, end) and not failed (email has no
    delivery receipt, so "sent and not bounced" counts as delivered); responses = those of
    them that were answered (at any time since).
    """
    invitations = Invitation.objects.filter(program=program, sent_at__isnull=False, failed_at__isnull=True)
    if start is not None:
        invitations = invitations.filter(sent_at__gte=start)
    if end is not None:
        invitations = invitations.filter(sent_at__lt=end)
    if segment:
        invitations = invitations.filter(customer__score__segment=segment)
    if survey is not None:
        invitations = invitations.filter(survey=survey)
    counts = invitations.aggregate(delivered=Count("id"), answered=Count("id", filter=Q(answered_at__isnull=False)))
    return rate(counts["answered"], counts["delivered"])


def response_rate_metric(program, start, end, segment=None):
    """engagement.hooks metric provider "response_rate"."""
    return response_rate(program, start, end, segment=segment)


def survey_overview(program, start=None, end=None):
    """Per survey of the program: kind, responses and its headline score (admin list)."""
    min_responses = SurveySettings.for_program(program).min_responses_per_period
    out = []
    for survey in Survey.objects.filter(program=program).order_by("name"):
        counts = dict(completed_responses(survey, start, end).values_list("score").annotate(n=Count("id")).order_by())
        out.append({"survey": survey, **summarize(survey.kind, counts, min_responses)})
    return out
