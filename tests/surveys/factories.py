"""Survey factories: surveys are made with the real service (standard questions in en/ar/ms)."""

from surveys.definitions import create_survey
from surveys.models import Survey


def make_survey(program, kind=Survey.Kind.NPS, name=None, **settings):
    return create_survey(program=program, name=name or f"{kind.upper()} survey", kind=kind, **settings)
