import pytest

from surveys.models import Survey
from tests.surveys.factories import make_survey


@pytest.fixture
def nps(acme):
    return make_survey(acme, Survey.Kind.NPS, name="Acme NPS")


@pytest.fixture
def csat(acme):
    return make_survey(acme, Survey.Kind.CSAT, name="Acme CSAT")


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """send(survey, customer, **kw) -> SendResult, with on-commit callbacks captured, not run
    (delivery would go to the test Redis; these tests look at rows, not at workers)."""
    from surveys.sending import send_survey

    def _send(survey, customer, **kwargs):
        kwargs.setdefault("source", "api")
        with django_capture_on_commit_callbacks(execute=False):
            return send_survey(survey=survey, customer=customer, **kwargs)

    return _send
