"""The path through a survey (reads only): which questions a customer is asked given the
answers so far, the score band, and the follow-up text for that band.

- A question with `show_if = {"question": <id>, "values": [...]}` is asked only when the
  answer to that earlier question is one of the values (any of them, for a multiple choice).
- The follow-up question ("why?") reads the survey's text for the band of the score:
  NPS 0-6 detractor, 7-8 passive, 9-10 promoter; other scales by position on the scale
  (lower half detractor, up to three quarters passive, the rest promoter: CSAT 1-2 / 3 / 4-5).
"""

from surveys.models import Question, Survey

BANDS = ("detractor", "passive", "promoter")


def score_band(survey, question, score):
    """ "detractor", "passive", "promoter" or "" (no score)."""
    if score is None or question is None:
        return ""
    if survey.kind == Survey.Kind.NPS:
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    span = question.scale_max - question.scale_min
    position = (score - question.scale_min) / span if span else 1
    return "detractor" if position < 0.5 else "passive" if position < 0.75 else "promoter"


def _matches(condition, values):
    answer = values.get(condition.get("question"))
    if answer is None or answer == "" or answer == []:
        return False
    wanted = {str(value) for value in condition.get("values") or []}
    answered = {str(value) for value in answer} if isinstance(answer, list) else {str(answer)}
    return bool(wanted & answered)


def visible_questions(questions, values):
    """The questions asked, in order, given `values` ({question id: int | str | list}).

    A question whose condition names a question that is itself not asked is not asked."""
    shown = []
    shown_ids = set()
    for question in questions:
        condition = question.show_if or {}
        if condition.get("question") is not None:
            if condition["question"] not in shown_ids or not _matches(condition, values):
                continue
        shown.append(question)
        shown_ids.add(question.pk)
    return shown


def primary_of(questions):
    """The scored question: the first rating question (as Survey.get_primary_question)."""
    ratings = [q for q in questions if q.type == Question.Type.RATING]
    return min(ratings, key=lambda q: (q.position, q.pk)) if ratings else None


def question_text(survey, question, band, locale):
    """The question's text in `locale`; a follow-up reads the survey's text for the band."""
    if question.is_followup and band:
        texts = (survey.followup_texts or {}).get(band) or {}
        text = texts.get(locale) or texts.get("en")
        if text:
            return text
    return question.localized("text", locale)
