"""The answer page's hot read: a later view of an opened link in ONE statement, and survey
definitions (survey + questions, all languages) cached per process as plain frozen values.

Cache contract: each entry is stored under a fingerprint, an md5 that PostgreSQL computes
in that same statement over the survey's row and all its question rows (every column, as
text). Any committed change (admin, queryset update, shell, another process) changes the
fingerprint, so the next request reads the definition again: nothing to invalidate by hand,
no signal to forget, no Redis round trip. A change committed between the statement and the
reload is stored under the old fingerprint and read again on the following request.
"""

import json
import threading
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from surveys.models import Invitation, Question, Survey
from surveys.tokens import InvalidToken, unsign

MAX_SURVEYS = 1_000  # definitions cached per process; beyond, the cache starts afresh

_lock = threading.Lock()
_definitions: dict[int, tuple[str, "SurveyDefinition"]] = {}  # survey id -> (fingerprint, definition)

# Only an opened, unexpired link (the first view, expiry, answered and problem pages take
# the ORM path in surveys.views, which writes what they need). The saved answers of its
# response come along as one JSON array.
LATER_VIEW_SQL = """
SELECT i.survey_id, i.locale, p.id, p.name,
       (SELECT md5(s::text || coalesce(string_agg(q::text, '|' ORDER BY q.id), ''))
        FROM surveys_survey s LEFT JOIN surveys_question q ON q.survey_id = s.id
        WHERE s.id = i.survey_id GROUP BY s.id),
       (SELECT json_agg(json_build_array(a.question_id, a.value_int, a.value_text, a.value_choices))::text
        FROM surveys_response r JOIN surveys_answer a ON a.response_id = r.id WHERE r.invitation_id = i.id)
FROM surveys_invitation i JOIN engagement_program p ON p.id = i.program_id
WHERE i.token = %(token)s AND i.program_id = %(program)s AND i.status = %(opened)s
  AND i.opened_at IS NOT NULL AND (i.expires_at IS NULL OR i.expires_at > %(now)s)
"""


@dataclass(frozen=True)
class QuestionDefinition:
    """What the answer page and surveys.flow read of a Question (same attribute names)."""

    pk: int
    position: int
    type: str
    required: bool
    is_followup: bool
    show_if: dict
    scale_min: int
    scale_max: int
    choices: list
    texts: dict[str, str]  # "text_ar", "low_label_en", ... as on the Question row

    def localized(self, field: str, locale: str) -> str:
        """As Question.localized: the locale's text, else the English one."""
        return self.texts.get(f"{field}_{locale}", "") or self.texts.get(f"{field}_en", "")


@dataclass(frozen=True)
class SurveyDefinition:
    pk: int
    kind: str
    followup_texts: dict
    questions: tuple[QuestionDefinition, ...]  # in the survey's order (position, id)


@dataclass(frozen=True)
class LaterView:
    survey: SurveyDefinition
    locale: str
    program_id: int
    program_name: str
    stored: dict[str, list[str]]  # saved answers as form values: {"q12": ["7"]}


TEXT_FIELDS = tuple(
    f"{field}_{locale}" for field in ("text", "low_label", "high_label") for locale in ("en", "ar", "ms")
)


def _load_definition(survey_id: int) -> SurveyDefinition | None:
    survey = Survey.objects.filter(pk=survey_id).only("kind", "followup_texts").first()
    if survey is None:
        return None
    questions = tuple(
        QuestionDefinition(
            pk=q.pk,
            position=q.position,
            type=q.type,
            required=q.required,
            is_followup=q.is_followup,
            show_if=q.show_if,
            scale_min=q.scale_min,
            scale_max=q.scale_max,
            choices=q.choices,
            texts={name: getattr(q, name) for name in TEXT_FIELDS},
        )
        for q in Question.objects.filter(survey_id=survey_id).order_by("position", "id")
    )
    return SurveyDefinition(pk=survey.pk, kind=survey.kind, followup_texts=survey.followup_texts, questions=questions)


def get_definition(survey_id: int, fingerprint: str) -> SurveyDefinition | None:
    """The survey's definition as of `fingerprint`: from this process's cache, else read
    (two queries) and cached. None if the survey is gone."""
    entry = _definitions.get(survey_id)
    if entry is not None and entry[0] == fingerprint:
        return entry[1]
    definition = _load_definition(survey_id)
    if definition is not None:
        with _lock:
            if len(_definitions) >= MAX_SURVEYS:
                _definitions.clear()
            _definitions[survey_id] = (fingerprint, definition)
    return definition


def clear_definitions() -> None:
    with _lock:
        _definitions.clear()


def form_values(value_int, value_text, value_choices) -> list[str]:
    """A saved answer as the form's values: the number, else the choices, else the text."""
    if value_int is not None:
        return [str(value_int)]
    if value_choices:
        return list(value_choices)
    return [value_text]


def _stored(answers_json: str | None) -> dict[str, list[str]]:
    """Saved answers as form values: {"q12": ["7"], ...} (as surveys.views._stored_answers)."""
    rows = json.loads(answers_json) if answers_json else ()
    return {f"q{question_id}": form_values(*values) for question_id, *values in rows}


def read_later_view(signed_token: str, now: datetime) -> LaterView | None:
    """The page data of a later view of an opened, unexpired link; None for anything else
    (a bad token, the first view, an expired, answered or held link): the caller takes the
    full path. One query when the survey's definition is cached. Reads only."""
    try:
        program_id, raw = unsign(signed_token)
    except InvalidToken:
        return None
    params = {"token": raw, "program": program_id, "opened": Invitation.Status.OPENED, "now": now}
    with connection.cursor() as cursor:
        cursor.execute(LATER_VIEW_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    survey_id, locale, program_id, program_name, fingerprint, answers_json = row
    survey = get_definition(survey_id, fingerprint)
    if survey is None:
        return None
    return LaterView(survey, locale, program_id, program_name, _stored(answers_json))
