"""Answer pages (no login: the signed token identifies the invitation). Views parse and
delegate to surveys.answering; every problem with a link is a clear page, never a 500."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_http_methods

from surveys.answering import (
    AnswerErrors,
    LinkProblem,
    open_invitation,
    resolve_invitation,
    save_answers,
    validate_answers,
)
from surveys.models import LANGUAGES, Question

RTL_LOCALES = ("ar",)
PROBLEM_STATUS = {"invalid": 404, "expired": 410, "answered": 200}


def _page(request, template, locale, context, status=200):
    with translation.override(locale):
        response = render(
            request,
            template,
            {**context, "locale": locale, "direction": "rtl" if locale in RTL_LOCALES else "ltr"},
            status=status,
        )
    response["Content-Language"] = locale
    return response


def _problem(request, kind, invitation=None, status=None):
    locale = invitation.locale if invitation else translation.get_language() or "en"
    locale = locale.split("-")[0] if locale.split("-")[0] in LANGUAGES else "en"
    program = invitation.program.name if invitation else ""
    return _page(
        request, "surveys/problem.html", locale, {"kind": kind, "program_name": program}, status or PROBLEM_STATUS[kind]
    )


@require_http_methods(["GET", "POST"])
def answer_page(request, token):
    try:
        invitation = resolve_invitation(token)
    except LinkProblem as problem:
        return _problem(request, problem.kind)
    if request.method == "GET":
        try:
            open_invitation(invitation)
        except LinkProblem as problem:
            return _problem(request, problem.kind, invitation)
        return _form_page(request, invitation, stored=_stored_answers(invitation), saved="saved" in request.GET)
    return _submit(request, token, invitation)


def _submit(request, token, invitation):
    complete = request.POST.get("action", "submit") != "save"
    submitted = {name: values for name, values in request.POST.lists()}
    with translation.override(invitation.locale):
        answers, errors = validate_answers(invitation.survey, submitted)
        if not errors:
            try:
                save_answers(invitation, answers, complete=complete)
            except LinkProblem as problem:
                return _problem(request, problem.kind, invitation, status=409 if problem.kind == "answered" else None)
            except AnswerErrors as exc:
                errors = exc.errors
    if errors:
        # Show what the customer typed, with the errors; nothing was stored.
        return _form_page(request, invitation, stored=submitted, errors=errors, status=400)
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)  # background autosave from answer.js
    if complete:
        return redirect("surveys:thanks", token=token)
    return redirect(reverse("surveys:answer", kwargs={"token": token}) + "?saved=1")


@require_http_methods(["GET"])
def thanks_page(request, token):
    try:
        invitation = resolve_invitation(token)
    except LinkProblem as problem:
        return _problem(request, problem.kind)
    if invitation.status != invitation.Status.ANSWERED:
        return redirect("surveys:answer", token=token)
    return _page(request, "surveys/thanks.html", invitation.locale, {"program_name": invitation.program.name})


def _stored_answers(invitation):
    """Saved partial answers as form values: {"q12": ["7"], ...}."""
    response = getattr(invitation, "response", None)
    if response is None:
        return {}
    stored = {}
    for answer in response.answers.all():
        if answer.value_int is not None:
            values = [str(answer.value_int)]
        elif answer.value_choices:
            values = list(answer.value_choices)
        else:
            values = [answer.value_text]
        stored[f"q{answer.question_id}"] = values
    return stored


def _form_page(request, invitation, stored, errors=None, saved=False, status=200):
    locale = invitation.locale
    errors = errors or {}
    questions = [_question_context(q, locale, stored, errors) for q in invitation.survey.questions.all()]
    foreign = {name: message for name, message in errors.items() if name not in {q["name"] for q in questions}}
    context = {
        "program_name": invitation.program.name,
        "questions": questions,
        "foreign_errors": list(foreign.values()),
        "has_errors": bool(errors),
        "saved": saved,
    }
    return _page(request, "surveys/answer.html", locale, context, status=status)


def _question_context(question, locale, stored, errors):
    name = f"q{question.pk}"
    values = [str(value) for value in stored.get(name, [])]
    context = {
        "name": name,
        "type": question.type,
        "text": question.localized("text", locale),
        "required": question.required,
        "values": values,
        "value": values[0] if values else "",
        "error": errors.get(name, ""),
    }
    if question.type == Question.Type.RATING:
        context["low_label"] = question.localized("low_label", locale)
        context["high_label"] = question.localized("high_label", locale)
        context["scale"] = [str(n) for n in range(question.scale_min, question.scale_max + 1)]
        context["scale_min"], context["scale_max"] = question.scale_min, question.scale_max
        context["wide"] = question.scale_max - question.scale_min >= 7
    elif question.type in (Question.Type.SINGLE, Question.Type.MULTIPLE):
        context["options"] = [
            {"value": str(choice.get("value")), "label": choice.get(locale) or choice.get("en") or choice.get("value")}
            for choice in question.choices or []
        ]
    return context
