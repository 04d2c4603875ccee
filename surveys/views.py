"""Answer pages (no login: the signed token identifies the invitation). Views parse and
delegate to surveys.answering and surveys.flow; every problem with a link is a clear page,
never a 500.

One question per screen: `?step=N` shows the N-th question asked (surveys.flow decides which
questions are asked from the answers so far). "Next" and "Back" save a partial response;
the last step sends. A POST may still carry every answer at once (no-JS clients, the API
of the form), which is validated and stored the same way.
"""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from engagement.models import Program
from surveys import flow, page_reads
from surveys.answering import (
    AnswerErrors,
    LinkProblem,
    open_invitation,
    resolve_invitation,
    save_answers,
    validate_answers,
)
from surveys.models import LANGUAGES, Question, SurveySettings
from surveys.next_steps import get_next_step
from surveys.sending import renew_invitation
from surveys.tokens import InvalidToken, unsign

RTL_LOCALES = ("ar",)
PROBLEM_STATUS = {"invalid": 404, "expired": 410, "answered": 200}


def _page(request, template, locale, context, status=200, program=None):
    """`program`: a Program, its (id, name), or None."""
    program_id, program_name = (program.pk, program.name) if isinstance(program, Program) else program or (None, "")
    with translation.override(locale):
        response = render(
            request,
            template,
            {
                **context,
                "locale": locale,
                "direction": "rtl" if locale in RTL_LOCALES else "ltr",
                "program_name": program_name,
                "program_id": program_id,
            },
            status=status,
        )
    response["Content-Language"] = locale
    return response


def _request_locale():
    locale = (translation.get_language() or "en").split("-")[0]
    return locale if locale in LANGUAGES else "en"


def _program_of_token(token):
    """The program a validly signed token names (its invitation may be gone), else None."""
    try:
        program_id, _raw = unsign(token)
    except InvalidToken:
        return None
    return Program.objects.filter(pk=program_id).first()


def _problem(request, kind, invitation=None, status=None, token=None, context=None):
    locale = invitation.locale if invitation else _request_locale()
    locale = locale.split("-")[0] if locale.split("-")[0] in LANGUAGES else "en"
    program = invitation.program if invitation else (_program_of_token(token) if token else None)
    can_renew = bool(
        kind == "expired"
        and invitation is not None
        and invitation.survey.allow_fresh_link
        and invitation.survey.is_active
    )
    return _page(
        request,
        "surveys/problem.html",
        locale,
        {"kind": kind, "can_renew": can_renew, "token": token, **(context or {})},
        status or PROBLEM_STATUS[kind],
        program=program,
    )


@require_http_methods(["GET", "POST"])
def answer_page(request, token):
    if request.method == "GET":
        later = page_reads.read_later_view(token, timezone.now())
        if later is not None:  # the common case: a later view, one query, nothing written
            return _form_page(
                request,
                later.survey,
                later.survey.questions,
                later.locale,
                (later.program_id, later.program_name),
                stored=later.stored,
                saved="saved" in request.GET,
                step=_step(request.GET),
            )
    try:
        invitation = resolve_invitation(token)
    except LinkProblem as problem:
        return _problem(request, problem.kind, token=token)
    if request.method == "POST":
        return _submit(request, token, invitation)
    try:
        open_invitation(invitation)
    except LinkProblem as problem:
        return _problem(request, problem.kind, invitation, token=token)
    return _invitation_form_page(
        request,
        invitation,
        stored=_stored_answers(invitation),
        saved="saved" in request.GET,
        step=_step(request.GET),
    )


def _step(data):
    value = str(data.get("step", "1"))
    return int(value) if value.isdigit() and 0 < int(value) < 100 else 1


def _step_url(token, step, saved=False):
    query = f"?step={step}" + ("&saved=1" if saved else "")
    return reverse("surveys:answer", kwargs={"token": token}) + query


def _submit(request, token, invitation):
    action = request.POST.get("action", "submit")
    step = _step(request.POST)
    submitted = {name: values for name, values in request.POST.lists()}
    if action == "submit" and _more_to_ask(invitation, request.POST.get("current", ""), submitted):
        action = "next"  # this answer opened a question after this one: ask it before sending
    with translation.override(invitation.locale):
        answers, errors = validate_answers(invitation.survey, submitted)
        current = request.POST.get("current", "")
        if not errors and action == "next" and current:
            errors = _unanswered_required(invitation, current, answers)
        if not errors:
            try:
                save_answers(invitation, answers, complete=action == "submit")
            except LinkProblem as problem:
                status = 409 if problem.kind == "answered" else None
                return _problem(request, problem.kind, invitation, status=status, token=token)
            except AnswerErrors as exc:
                errors = exc.errors
    if errors:
        # Show what the customer typed, with the errors; nothing was stored.
        stored = {**_stored_answers(invitation), **submitted}
        return _invitation_form_page(request, invitation, stored=stored, errors=errors, status=400, step=step)
    if request.headers.get("X-Requested-With") == "fetch":
        return HttpResponse(status=204)  # background autosave from answer.js
    if action == "submit":
        return redirect("surveys:thanks", token=token)
    if action == "next":
        return redirect(_step_url(token, step + 1))
    if action == "back":
        return redirect(_step_url(token, max(1, step - 1)))
    return redirect(_step_url(token, step, saved=True))


def _more_to_ask(invitation, current, submitted):
    """True when, with the answers just given, a question is asked after `current`."""
    if not current:
        return False
    questions = list(invitation.survey.questions.all())
    asked = flow.visible_questions(questions, _values(questions, {**_stored_answers(invitation), **submitted}))
    names = [f"q{question.pk}" for question in asked]
    return current in names and names.index(current) < len(names) - 1


def _unanswered_required(invitation, name, answers):
    """ "Next" on a required question needs its answer (now or saved before)."""
    question = next((q for q in invitation.survey.questions.all() if f"q{q.pk}" == name), None)
    if question is None or not question.required or question in answers:
        return {}
    if name in _stored_answers(invitation):
        return {}
    return {name: _("Please answer this question.")}


@require_http_methods(["GET"])
def thanks_page(request, token):
    try:
        invitation = resolve_invitation(token)
    except LinkProblem as problem:
        return _problem(request, problem.kind, token=token)
    if invitation.status != invitation.Status.ANSWERED:
        return redirect("surveys:answer", token=token)
    response = getattr(invitation, "response", None)
    survey = invitation.survey
    questions = list(survey.questions.all())
    band = flow.score_band(survey, flow.primary_of(questions), response.score if response else None)
    with translation.override(invitation.locale):
        step = get_next_step(invitation, response, band)
    if step and step.get("link"):
        step = {**step, "link": request.build_absolute_uri(step["link"])}
    return _page(
        request, "surveys/thanks.html", invitation.locale, {"band": band, "next_step": step}, program=invitation.program
    )


@require_POST
def fresh_link_page(request, token):
    """An expired link's "send me a new link" button (when the survey allows it)."""
    try:
        invitation = resolve_invitation(token)
    except LinkProblem as problem:
        return _problem(request, problem.kind, token=token)
    fresh = renew_invitation(invitation)
    if fresh is None:
        return _problem(request, "expired", invitation, token=token)
    return _problem(request, "expired", invitation, status=200, token=token, context={"renewed": True})


def _stored_answers(invitation):
    """Saved partial answers as form values: {"q12": ["7"], ...}."""
    response = getattr(invitation, "response", None)
    if response is None:
        return {}
    return {
        f"q{a.question_id}": page_reads.form_values(a.value_int, a.value_text, a.value_choices)
        for a in response.answers.all()
    }


def _values(questions, stored):
    """Form values ({"q12": ["7"]}) as flow values ({12: 7 | "text" | ["a", "b"]})."""
    values = {}
    for question in questions:
        raw = [v for v in stored.get(f"q{question.pk}", []) if str(v).strip()]
        if not raw:
            continue
        if question.type == Question.Type.RATING:
            values[question.pk] = int(raw[0]) if str(raw[0]).lstrip("-").isdigit() else None
        elif question.type == Question.Type.MULTIPLE:
            values[question.pk] = list(raw)
        else:
            values[question.pk] = raw[0]
    return values


def _invitation_form_page(request, invitation, **kwargs):
    survey, program = invitation.survey, invitation.program
    questions = list(survey.questions.all())
    return _form_page(request, survey, questions, invitation.locale, (program.pk, program.name), **kwargs)


def _form_page(request, survey, questions, locale, program, stored, errors=None, saved=False, status=200, step=1):
    """One question's screen. `survey` and `questions` are model instances or their cached
    definitions (surveys.page_reads: same attributes); `program` is (id, name)."""
    errors = errors or {}
    values = _values(questions, stored)
    asked = flow.visible_questions(questions, values) or questions[:1]
    names = [f"q{q.pk}" for q in asked]
    with_error = [i for i, name in enumerate(names, start=1) if name in errors]
    step = with_error[0] if with_error else min(step, len(asked))
    primary = flow.primary_of(questions)
    band = flow.score_band(survey, primary, values.get(primary.pk) if primary else None)
    question = asked[step - 1]
    foreign = {name: message for name, message in errors.items() if name not in {f"q{q.pk}" for q in questions}}
    context = {
        "question": _question_context(survey, question, locale, stored, errors, band),
        "step": step,
        "total": len(asked),
        "is_last": step == len(asked),
        "foreign_errors": list(foreign.values()),
        "has_errors": bool(errors),
        "saved": saved,
    }
    return _page(request, "surveys/answer.html", locale, context, status=status, program=program)


def _question_context(survey, question, locale, stored, errors, band):
    name = f"q{question.pk}"
    values = [str(value) for value in stored.get(name, [])]
    context = {
        "name": name,
        "type": question.type,
        "text": flow.question_text(survey, question, band, locale),
        "required": question.required,
        "values": values,
        "value": values[0] if values else "",
        "error": errors.get(name, ""),
    }
    if question.type == Question.Type.RATING:
        context["low_label"] = question.localized("low_label", locale)
        context["high_label"] = question.localized("high_label", locale)
        context["scale_options"] = _scale_options(
            question, context["value"], context["low_label"], context["high_label"]
        )
        context["scale_min"], context["scale_max"] = question.scale_min, question.scale_max
        context["wide"] = question.scale_max - question.scale_min >= 7
    elif question.type in (Question.Type.SINGLE, Question.Type.MULTIPLE):
        context["options"] = [
            {"value": str(choice.get("value")), "label": choice.get(locale) or choice.get("en") or choice.get("value")}
            for choice in question.choices or []
        ]
    return context


def _scale_options(question, value, low_label, high_label):
    """The scale's radio buttons, decided here rather than per option in the template (the
    page's hottest loop): the value, checked or not, and the accessible name (the end
    labels on the first and last)."""
    numbers = [str(n) for n in range(question.scale_min, question.scale_max + 1)]
    last = len(numbers) - 1
    return [
        {
            "n": n,
            "checked": n == value,
            "label": f"{n} ({low_label})" if i == 0 else f"{n} ({high_label})" if i == last else n,
        }
        for i, n in enumerate(numbers)
    ]


@require_http_methods(["GET"])
def brand_css(request, program_id):
    """The program's survey colours as a stylesheet (a file, not an inline style: the pages'
    Content-Security-Policy allows styles and scripts from this site only)."""
    program = Program.objects.filter(pk=program_id).first()
    color = SurveySettings.for_program(program).brand_color if program else "#1d4ed8"
    response = HttpResponse(f":root {{ --brand: {color}; }}\n", content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response
