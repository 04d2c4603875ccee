"""Relationship surveys: a random sample of a segment (e.g. 10 % of "Loyal" each month)."""

import math
import random
from dataclasses import dataclass, field

from django.utils import timezone

from engagement.models import Customer
from surveys.models import Survey
from surveys.sending import send_survey


@dataclass
class SampleResult:
    eligible: int = 0
    sampled: int = 0
    outcomes: dict = field(default_factory=dict)  # "sent" / "held" / skip reason -> count


def period_index(survey, now):
    """Which relationship period `now` falls in (days since year 1 // every_days)."""
    return now.date().toordinal() // max(survey.relationship_every_days, 1)


def send_relationship_sample(survey, *, segment=None, percent=None, now=None):
    """Send `survey` to `percent` % (rounded up) of the customers in `segment` (current
    CustomerScore.segment), defaulting to the survey's relationship settings.

    The sample is drawn with a seed of (survey, period), and each send carries the
    idempotency key relationship:<survey>:<period>:<customer>, so re-running in the same
    period (a retried task, a second admin click) sends nothing new. Each send is its own
    transaction (send_survey); throttling applies as usual. Returns a SampleResult.
    """
    now = now or timezone.now()
    segment = segment if segment is not None else survey.relationship_segment
    percent = percent if percent is not None else survey.relationship_percent
    result = SampleResult()
    if not segment or not percent:
        return result
    ids = list(
        Customer.objects.filter(program_id=survey.program_id, score__segment=segment, erased_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    period = period_index(survey, now)
    result.eligible = len(ids)
    sample = random.Random(f"{survey.pk}:{period}:{segment}").sample(ids, math.ceil(len(ids) * percent / 100))
    result.sampled = len(sample)
    for customer in Customer.objects.filter(pk__in=sample).select_related("program").order_by("id"):
        outcome = send_survey(
            survey=survey,
            customer=customer,
            source="relationship",
            idempotency_key=f"relationship:{survey.pk}:{period}:{customer.pk}",
        )
        if outcome.invitation is None:
            key = outcome.skipped_reason
        else:
            key = "held" if outcome.invitation.status == outcome.invitation.Status.HELD else "sent"
        result.outcomes[key] = result.outcomes.get(key, 0) + 1
    Survey.objects.filter(pk=survey.pk).update(relationship_last_run_at=now)
    return result


def due_relationship_surveys(now=None):
    """Active surveys with a relationship sample configured whose period has come round."""
    now = now or timezone.now()
    surveys = Survey.objects.filter(is_active=True, relationship_percent__gt=0).exclude(relationship_segment="")
    return [
        survey
        for survey in surveys
        if survey.relationship_last_run_at is None
        or period_index(survey, survey.relationship_last_run_at) != period_index(survey, now)
    ]
