"""Survey throttling at two levels (issue 5):

- per survey: the recontact window (Survey.get_recontact_days(): 90 days NPS, 30 CSAT...);
- per program: the cooldown across all surveys (SurveySettings.cooldown_days, 7 by default).

Both clocks start at the send (`Invitation.invited_at`), not at the answer. Held invitations
(not sent yet) and failed ones (the channel never reached the customer) do not count.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max

from surveys.models import Invitation, SendSkip, SurveySettings


@dataclass(frozen=True)
class Throttle:
    reason: str  # SendSkip.Reason.RECONTACT_WINDOW or COOLDOWN
    eligible_at: datetime  # when neither rule blocks the customer any more


def counted_invitations(customer):
    return Invitation.objects.filter(customer=customer, invited_at__isnull=False).exclude(
        status=Invitation.Status.FAILED
    )


def check_throttle(survey, customer, now):
    """Return a Throttle when `customer` may not get `survey` at `now`, else None. Reads only."""
    recontact = timedelta(days=survey.get_recontact_days())
    cooldown = timedelta(days=SurveySettings.for_program(survey.program).cooldown_days)
    sent = counted_invitations(customer)
    last_same = sent.filter(survey=survey).aggregate(last=Max("invited_at"))["last"]
    last_any = sent.aggregate(last=Max("invited_at"))["last"]
    blocked_same = last_same is not None and last_same + recontact > now
    blocked_any = last_any is not None and last_any + cooldown > now
    if not (blocked_same or blocked_any):
        return None
    ends = []
    if last_same is not None:
        ends.append(last_same + recontact)
    if last_any is not None:
        ends.append(last_any + cooldown)
    # The survey's own window is the more specific reason, so it wins when both apply.
    reason = SendSkip.Reason.RECONTACT_WINDOW if blocked_same else SendSkip.Reason.COOLDOWN
    return Throttle(reason=reason, eligible_at=max(ends))
