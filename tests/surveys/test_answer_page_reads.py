"""The answer page's later views (surveys.page_reads): one query with the survey's definition
cached per process, the same page as the full path, and a definition change shown on the
next request however it was made."""

import re
from datetime import timedelta

import pytest
import time_machine

from surveys import page_reads
from surveys.models import Invitation, Question, Survey
from surveys.tokens import invitation_path
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey


@pytest.fixture(autouse=True)
def _fresh_definitions():
    page_reads.clear_definitions()
    yield
    page_reads.clear_definitions()


@pytest.fixture
def opened(client, send):
    """opened(survey, customer) -> (invitation, path), its first view done (status opened)."""

    def _open(survey, customer):
        invitation = send(survey, customer).invitation
        Invitation.objects.filter(pk=invitation.pk).update(status="sent", sent_at=invitation.invited_at)
        path = invitation_path(invitation)
        assert client.get(path).status_code == 200
        invitation.refresh_from_db()
        assert invitation.status == "opened"
        return invitation, path

    return _open


def without_csrf(response):
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def legend(response):
    return re.search(r'<legend data-testid="question">([^<]*)', response.content.decode()).group(1).strip()


def test_a_later_view_is_one_query_once_the_survey_is_cached(client, nps, alice, opened, django_assert_num_queries):
    _invitation, path = opened(nps, alice)
    with django_assert_num_queries(3):  # this process reads the definition: the survey, its questions
        assert client.get(path).status_code == 200
    with django_assert_num_queries(1):
        assert client.get(path).status_code == 200
    with django_assert_num_queries(1):  # another step, saved answers included
        assert client.get(path + "?step=2&saved=1").status_code == 200


@pytest.mark.parametrize("locale", ["en", "ar", "ms"])
def test_a_later_view_is_the_page_the_full_path_shows(client, nps, acme, opened, locale):
    customer = CustomerFactory(program=acme, external_id=f"c-{locale}", locale=locale)
    invitation, path = opened(nps, customer)
    score = nps.questions.order_by("position").first()
    client.post(path, {f"q{score.pk}": "4", "action": "save", "step": "1", "current": f"q{score.pk}"})

    for step in (1, 2):
        Invitation.objects.filter(pk=invitation.pk).update(status="sent", opened_at=None)
        full = client.get(f"{path}?step={step}")  # opens the link again: the full path
        later = client.get(f"{path}?step={step}")  # the one-query path

        assert (later.status_code, later["Content-Language"]) == (200, locale)
        assert without_csrf(later) == without_csrf(full)
    html = without_csrf(client.get(path))
    assert f'<html lang="{locale}" dir="{"rtl" if locale == "ar" else "ltr"}">' in html
    assert 'value="4" checked' in html


def test_a_question_changed_by_a_queryset_update_shows_on_the_next_request(client, nps, alice, opened):
    _invitation, path = opened(nps, alice)
    assert legend(client.get(path)).startswith("How likely are you to recommend Acme")

    Question.objects.filter(survey=nps, position=0).update(text_en="Would you recommend Acme?")  # no signal

    assert legend(client.get(path)) == "Would you recommend Acme?"


def test_follow_up_texts_saved_on_the_survey_and_a_new_question_show_on_the_next_request(client, nps, alice, opened):
    _invitation, path = opened(nps, alice)
    score, why = nps.questions.order_by("position")
    client.post(path, {f"q{score.pk}": "10", "action": "next", "step": "1", "current": f"q{score.pk}"})
    assert legend(client.get(path + "?step=2")) == "Great to hear! What do you like most?"

    nps.followup_texts = {**nps.followup_texts, "promoter": {"en": "Thank you! Tell us more."}}
    nps.save()
    assert legend(client.get(path + "?step=2")) == "Thank you! Tell us more."

    Question.objects.create(
        survey=nps, position=2, type="free_text", text_en="Anything else?", text_ar="ar", text_ms="ms"
    )
    assert re.findall(r'data-testid="progress">([^<]*)', client.get(path + "?step=3").content.decode()) == [
        "Question 3 of 3"
    ]
    assert legend(client.get(path + "?step=3")) == "Anything else?"

    Question.objects.filter(survey=nps, position=2).delete()
    assert legend(client.get(path + "?step=3")) == "Thank you! Tell us more."  # back to the last step


def test_an_opened_link_past_its_expiry_still_gets_the_expired_page(client, nps, alice, opened):
    invitation, path = opened(nps, alice)
    assert client.get(path).status_code == 200

    with time_machine.travel(invitation.expires_at + timedelta(seconds=1)):
        page = client.get(path)

    invitation.refresh_from_db()
    assert (page.status_code, invitation.status) == (410, "expired")


def test_an_answered_link_still_gets_the_answered_page(client, nps, alice, opened):
    invitation, path = opened(nps, alice)
    score, why = nps.questions.order_by("position")
    answers = {f"q{score.pk}": "9", f"q{why.pk}": "Fast"}
    client.post(path, {**answers, "action": "submit", "step": "2", "current": f"q{why.pk}"})
    invitation.refresh_from_db()
    assert invitation.status == "answered"

    page = client.get(path)

    assert page.status_code == 200
    assert 'data-testid="question"' not in page.content.decode()


def test_the_cache_holds_one_entry_per_survey_and_a_deleted_survey_is_not_served(client, acme, alice, opened):
    survey = make_survey(acme, Survey.Kind.CSAT, name="Gone soon")
    _invitation, path = opened(survey, alice)
    client.get(path)
    assert list(page_reads._definitions) == [survey.pk]

    Survey.objects.filter(pk=survey.pk).delete()  # its invitations go with it

    assert client.get(path).status_code == 404
