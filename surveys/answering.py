"""Answering: resolving a signed link, validating answers, saving partial and final responses.

`validate_answers` reads only; `save_answers` is the one writer of Response/Answer rows and
of everything an answer causes (the `survey_answered` event, webhooks, the follow-up item),
all in one transaction so a failure stores nothing half-way.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from engagement.event_schema import CleanEvent
from engagement.ingest import record_platform_event
from engagement.webhooks.events import record_webhook_event
from surveys import flow, states
from surveys.models import Answer, FollowUp, Invitation, Question, Response, Survey
from surveys.statuses import expire_due_invitations
from surveys.tokens import InvalidToken, unsign

MAX_TEXT = 2000
OPENABLE = (Invitation.Status.QUEUED, Invitation.Status.SENT, Invitation.Status.DELIVERED)
ANSWERABLE = (*OPENABLE, Invitation.Status.OPENED)


class LinkProblem(Exception):
    """The link cannot be used; `kind` is invalid, expired or answered (the page to show)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class AnswerErrors(Exception):
    """Bad answers: `errors` maps a form field name ("q12") to a message. Nothing was stored."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


def resolve_invitation(signed_token: str) -> Invitation:
    """The invitation of a signed link, or LinkProblem("invalid") for a tampered, made-up or
    other-program token and for held invitations (their link was never sent)."""
    try:
        program_id, raw = unsign(signed_token)
    except InvalidToken:
        raise LinkProblem("invalid") from None
    invitation = (
        Invitation.objects.select_related("survey", "customer", "program")
        .filter(token=raw, program_id=program_id)
        .exclude(status=Invitation.Status.HELD)
        .first()
    )
    if invitation is None:
        raise LinkProblem("invalid")
    return invitation


def open_invitation(invitation: Invitation, now: datetime | None = None) -> None:
    """Record the first view of the answer page (status opened) or the expiry.

    Raises LinkProblem("answered") or LinkProblem("expired"). Conditional UPDATEs: a
    concurrent answer or status callback is never overwritten by a stale read.
    """
    now = now or timezone.now()
    if invitation.status == Invitation.Status.ANSWERED:
        raise LinkProblem("answered")
    if invitation.is_expired(now):
        expire_due_invitations(now, Invitation.objects.filter(pk=invitation.pk))
        raise LinkProblem("expired")
    if invitation.status == Invitation.Status.OPENED and invitation.opened_at is not None:
        return  # a later view: the first one recorded everything (no lock, no write)
    # On the row's current status (locked): a concurrent answer or callback is never overwritten.
    opened = Invitation.objects.filter(pk=invitation.pk)
    states.move_many(opened, OPENABLE, Invitation.Status.OPENED, reason="link opened", updates={"opened_at": now})
    Invitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(opened_at=now)
    invitation.refresh_from_db()


def validate_answers(
    survey: Survey, data: Mapping[str, Sequence[str | None]]
) -> tuple[dict[Question, Any], dict[str, str]]:
    """Parse submitted answers. `data` maps field names to lists of strings (a QueryDict's
    lists()); fields are "q<question id>", anything else is ignored. Returns (clean, errors):
    clean maps Question -> int | str | list[str]; empty fields are "not answered". Reads only.
    """
    questions = {f"q{question.pk}": question for question in survey.questions.all()}
    clean, errors = {}, {}
    for name, values in data.items():
        if not name.startswith("q") or not name[1:].isdigit():
            continue
        question = questions.get(name)
        if question is None:
            errors[name] = _("This question is not part of this survey.")
            continue
        values = [value.strip() for value in values if value is not None and value.strip()]
        if not values:
            continue
        try:
            clean[question] = _parse_answer(question, values)
        except ValueError as exc:
            errors[name] = str(exc)
    return clean, errors


def _parse_answer(question, values):
    if question.type == Question.Type.RATING:
        if len(values) != 1 or not values[0].lstrip("-").isdigit():
            raise ValueError(_("Choose one number."))
        score = int(values[0])
        if not question.scale_min <= score <= question.scale_max:
            raise ValueError(
                _("Choose a number from %(low)s to %(high)s.") % {"low": question.scale_min, "high": question.scale_max}
            )
        return score
    if question.type == Question.Type.TEXT:
        text = "\n".join(values)
        if len(text) > MAX_TEXT:
            raise ValueError(_("Please keep your answer under %(n)s characters.") % {"n": MAX_TEXT})
        return text
    allowed = question.choice_values()
    if any(value not in allowed for value in values):
        raise ValueError(_("Choose one of the options shown."))
    if question.type == Question.Type.SINGLE:
        if len(values) != 1:
            raise ValueError(_("Choose one option."))
        return values[0]
    return sorted(set(values), key=allowed.index)


def categorize(kind: str, score: int | None) -> str:
    """NPS: 9-10 promoter, 7-8 passive, 0-6 detractor. CSAT: 4-5 satisfied, else not."""
    if score is None:
        return Response.Category.NONE
    if kind == Survey.Kind.NPS:
        if score >= 9:
            return Response.Category.PROMOTER
        return Response.Category.PASSIVE if score >= 7 else Response.Category.DETRACTOR
    if kind == Survey.Kind.CSAT:
        return Response.Category.SATISFIED if score >= 4 else Response.Category.NOT_SATISFIED
    return Response.Category.NONE


def needs_follow_up(kind: str, score: int | None) -> bool:
    """Close the loop for an NPS detractor (0-6) or a CSAT of 1 or 2."""
    if score is None:
        return False
    return (kind == Survey.Kind.NPS and score <= 6) or (kind == Survey.Kind.CSAT and score <= 2)


def save_answers(
    invitation: Invitation,
    answers: dict[Question, Any],
    *,
    complete: bool,
    now: datetime | None = None,
    record_event: bool = True,
) -> Response:
    """Store `answers` (validated: Question -> value) on the invitation's response.

    complete=False saves a partial response (resumable from the same link). complete=True
    also requires every required question, then finalises: score and category, invitation
    answered, a `survey_answered` platform event (event id from the invitation, so a replay
    is a duplicate), webhook survey.answered and, for a detractor, a FollowUp item plus
    webhook survey.detractor. Locks the invitation row; raises LinkProblem (answered,
    expired) or AnswerErrors, in which case nothing is stored. Returns the Response.
    record_event=False leaves the platform event to the caller (the demo batches them with
    answered_event()).
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The invitation's row alone (`of`): a bare FOR UPDATE over the join would lock the
        # survey's row too, making every answer to a survey wait for the one before it, and the
        # customer's, blocking the ingest of their events and deadlocking with processing,
        # which locks customers in id order.
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("survey", "customer")
            .get(pk=invitation.pk)
        )
        if invitation.status == Invitation.Status.ANSWERED:
            raise LinkProblem("answered")
        if invitation.status not in ANSWERABLE or invitation.is_expired(now):
            raise LinkProblem("expired" if invitation.status != Invitation.Status.FAILED else "invalid")
        survey = invitation.survey
        foreign = {
            f"q{q.pk}": _("This question is not part of this survey.") for q in answers if q.survey_id != survey.pk
        }
        if foreign:
            raise AnswerErrors(foreign)
        response, _created = Response.objects.get_or_create(
            invitation=invitation,
            defaults={
                "program_id": invitation.program_id,
                "survey": survey,
                "customer": invitation.customer,
                "channel": invitation.channel,
                "locale": invitation.locale,
                "started_at": now,
            },
        )
        for question, value in answers.items():
            _store_answer(response, question, value)
        if complete:
            _complete(invitation, response, now, record_event)
        return response


def _store_answer(response, question, value):
    fields = {"value_int": None, "value_text": "", "value_choices": []}
    if isinstance(value, int):
        fields["value_int"] = value
    elif isinstance(value, list):
        fields["value_choices"] = value
    else:
        fields["value_text"] = value
    Answer.objects.update_or_create(response=response, question=question, defaults=fields)


def _complete(invitation, response, now, record_event):
    survey = invitation.survey
    stored = {answer.question_id: answer for answer in response.answers.all()}
    # Only the questions this customer was asked count: an answer to a question that a
    # changed earlier answer hid is dropped, and a hidden required question is not missing.
    asked = flow.visible_questions(
        list(survey.questions.all()), {qid: _answer_value(answer) for qid, answer in stored.items()}
    )
    asked_ids = {question.pk for question in asked}
    hidden = [qid for qid in stored if qid not in asked_ids]
    if hidden:
        Answer.objects.filter(response=response, question_id__in=hidden).delete()
        stored = {qid: answer for qid, answer in stored.items() if qid in asked_ids}
    missing = {
        f"q{question.pk}": _("Please answer this question.")
        for question in asked
        if question.required and question.pk not in stored
    }
    if missing:
        raise AnswerErrors(missing)
    primary = survey.get_primary_question()
    score = stored[primary.pk].value_int if primary and primary.pk in stored else None
    response.score = score
    response.category = categorize(survey.kind, score)
    response.segment = _current_segment(invitation.customer)
    response.completed_at = now
    response.save()
    states.transition(invitation, Invitation.Status.ANSWERED, updates={"answered_at": now})
    if record_event:
        event = answered_event(invitation, response, now)
        record_platform_event(
            invitation.program,
            invitation.customer,
            event.type,
            event.event_id,
            occurred_at=now,
            properties=event.properties,
        )
    _record_webhooks(invitation, response, stored, now)


def _current_segment(customer):
    try:
        return customer.score.segment or ""
    except (ObjectDoesNotExist, AttributeError):
        return ""


def answered_event(invitation: Invitation, response: Response, now: datetime) -> CleanEvent:
    """The `survey_answered` event of a completed response (event id derived from the
    invitation, so recording it twice stores it once)."""
    survey = invitation.survey
    properties = {"survey": survey.pk, "kind": survey.kind}
    if response.score is not None:
        properties["score"] = response.score
    return CleanEvent(
        event_id=f"survey-answered-{invitation.pk}",
        type="survey_answered",
        customer=invitation.customer.external_id,
        occurred_at=now,
        value=None,
        currency="",
        properties=properties,
    )


def _record_webhooks(invitation, response, stored, now):
    survey, customer, program = invitation.survey, invitation.customer, invitation.program
    payload = {
        "survey": survey.pk,
        "survey_name": survey.name,
        "kind": survey.kind,
        "customer": customer.external_id,
        "invitation": invitation.pk,
        "response": response.pk,
        "score": response.score,
        "category": response.category,
        "channel": response.channel,
        "answered_at": now,
        "answers": [{"question": qid, "value": _answer_value(answer)} for qid, answer in sorted(stored.items())],
    }
    record_webhook_event(program, "survey.answered", payload, idempotency_key=f"survey.answered:{invitation.pk}")
    if needs_follow_up(survey.kind, response.score):
        followup = FollowUp.objects.create(program=program, response=response, created_at=now)
        record_webhook_event(
            program,
            "survey.detractor",
            {**payload, "follow_up": followup.pk},
            idempotency_key=f"survey.detractor:{invitation.pk}",
        )


def _answer_value(answer):
    if answer.value_int is not None:
        return answer.value_int
    return answer.value_choices or answer.value_text
