"""A customer's personal data in surveys: erasure (free-text answers, follow-up notes) and
the export section (invitations and responses with their answers)."""

from engagement.erasure import Scrubber
from engagement.models import Customer
from surveys.models import Answer, FollowUp, Invitation, Response, SendSkip


def free_text_answers(customer: Customer) -> list[str]:
    """The customer's non-empty free-text answers (collected before they are blanked, so
    copies elsewhere, e.g. webhook payloads, are scrubbed too)."""
    return list(
        Answer.objects.filter(response__customer=customer).exclude(value_text="").values_list("value_text", flat=True)
    )


def erase_customer_answers(customer: Customer, scrubber: Scrubber) -> None:
    """Blank free-text answers and follow-up notes; scores, choices and categories stay
    (NPS/CSAT figures remain true). Idempotent."""
    Answer.objects.filter(response__customer=customer).exclude(value_text="").update(value_text="")
    FollowUp.objects.filter(response__customer=customer).exclude(note="").update(note="")
    scrubber.scrub_rows(Invitation.objects.filter(customer=customer).exclude(failure_reason=""), "failure_reason")
    scrubber.scrub_rows(SendSkip.objects.filter(customer=customer).exclude(detail=""), "detail")


def export_surveys(customer: Customer) -> dict:
    """Invitations and responses (with every answer) of the customer, oldest first."""
    invitations = Invitation.objects.filter(customer=customer).select_related("survey").order_by("id")
    responses = (
        Response.objects.filter(customer=customer).select_related("survey").prefetch_related("answers__question")
    )
    return {
        "invitations": [
            {
                "survey": i.survey.name,
                "channel": i.channel,
                "status": i.status,
                "invited_at": i.invited_at,
                "answered_at": i.answered_at,
            }
            for i in invitations
        ],
        "responses": [
            {
                "survey": r.survey.name,
                "kind": r.survey.kind,
                "score": r.score,
                "category": r.category,
                "completed_at": r.completed_at,
                "answers": [
                    {"question": a.question.text_en, "value": a.display()}
                    for a in sorted(r.answers.all(), key=lambda a: (a.question.position, a.question_id))
                ],
            }
            for r in responses.order_by("id")
        ],
    }
