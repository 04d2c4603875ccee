"""The path through a survey: score bands, one question per screen, the follow-up by band,
conditional questions, fresh links for expired ones, branded pages."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from surveys.definitions import BAND_TEXTS, add_question, create_survey
from surveys.flow import score_band, visible_questions
from surveys.models import Invitation, Question, Response, Survey, SurveySettings
from surveys.sending import renew_invitation
from surveys.tokens import invitation_path, sign_invitation
from tests.surveys.factories import make_survey


@pytest.fixture
def opened(send):
    def _open(survey, customer):
        invitation = send(survey, customer).invitation
        Invitation.objects.filter(pk=invitation.pk).update(status="sent", sent_at=invitation.invited_at)
        invitation.refresh_from_db()
        return invitation, invitation_path(invitation)

    return _open


@pytest.mark.parametrize(
    ("kind", "bands"),
    [
        ("nps", {0: "detractor", 6: "detractor", 7: "passive", 8: "passive", 9: "promoter", 10: "promoter"}),
        ("csat", {1: "detractor", 2: "detractor", 3: "passive", 4: "promoter", 5: "promoter"}),
        ("ces", {1: "detractor", 3: "detractor", 4: "passive", 5: "passive", 6: "promoter", 7: "promoter"}),
    ],
)
def test_score_bands(acme, kind, bands):
    survey = make_survey(acme, kind)
    primary = survey.get_primary_question()

    assert {score: score_band(survey, primary, score) for score in bands} == bands
    assert score_band(survey, primary, None) == ""


def test_nps_asks_the_score_then_the_follow_up_of_its_band(client, nps, alice, opened):
    invitation, path = opened(nps, alice)
    score, why = nps.questions.order_by("position")

    first = client.get(path).content.decode()
    assert "Question 1 of 2" in first and 'name="action" value="next"' in first and "<textarea" not in first

    moved = client.post(path, {f"q{score.pk}": "8", "action": "next", "step": "1", "current": f"q{score.pk}"})
    assert moved["Location"] == f"{path}?step=2"
    second = client.get(moved["Location"]).content.decode()
    assert "Question 2 of 2" in second and BAND_TEXTS["passive"]["en"] in second and "<textarea" in second
    assert Response.objects.get().completed_at is None

    done = client.post(path, {f"q{why.pk}": "More branches", "action": "submit", "step": "2", "current": f"q{why.pk}"})
    assert done["Location"] == f"{path}thanks/"
    thanks = client.get(done["Location"]).content.decode()
    assert "Thank you for your honest answer." in thanks
    response = Response.objects.get()
    assert (response.score, response.category) == (8, "passive")


def test_next_without_the_required_score_stays_with_an_error(client, nps, alice, opened):
    _, path = opened(nps, alice)
    score, _why = nps.questions.order_by("position")

    page = client.post(path, {"action": "next", "step": "1", "current": f"q{score.pk}"})

    assert page.status_code == 400
    assert "Please answer this question." in page.content.decode()
    assert Response.objects.count() == 0


def test_a_detractor_thank_you_says_the_team_will_read_it(client, nps, alice, opened):
    _, path = opened(nps, alice)
    score, _why = nps.questions.order_by("position")

    client.post(path, {f"q{score.pk}": "2", "action": "submit"})

    thanks = client.get(f"{path}thanks/").content.decode()
    assert "Someone from our team will read your answer" in thanks
    assert "/portal/r/" not in thanks


def test_a_promoter_thank_you_offers_the_referral_link(client, nps, alice, opened):
    _, path = opened(nps, alice)
    score, _why = nps.questions.order_by("position")

    client.post(path, {f"q{score.pk}": "10", "action": "submit"})

    thanks = client.get(f"{path}thanks/").content.decode()
    code = alice.referral_code.code
    assert f'value="http://testserver/portal/r/{code}/"' in thanks


@pytest.fixture
def visit(acme):
    survey = create_survey(program=acme, name="Visit", kind=Survey.Kind.CUSTOM)
    how = add_question(
        survey, Question.Type.SINGLE, {"en": "How?", "ar": "كيف؟", "ms": "Bagaimana?"}, required=True,
        choices=[{"value": "shop", "en": "Shop"}, {"value": "app", "en": "App"}],
    )  # fmt: skip
    app = add_question(
        survey, Question.Type.TEXT, {"en": "The app?", "ar": "التطبيق؟", "ms": "Aplikasi?"}, required=True,
        show_if={"question": how.pk, "values": ["app"]},
    )  # fmt: skip
    return survey, how, app


def test_a_question_is_asked_only_for_its_chosen_answers(visit):
    survey, how, app = visit
    questions = list(survey.questions.all())

    assert visible_questions(questions, {}) == [how]
    assert visible_questions(questions, {how.pk: "shop"}) == [how]
    assert visible_questions(questions, {how.pk: "app"}) == [how, app]
    assert visible_questions(questions, {how.pk: ["shop", "app"]}) == [how, app]


def test_an_answer_that_opens_a_question_leads_to_it_before_sending(client, visit, alice, opened):
    survey, how, app = visit
    _, path = opened(survey, alice)

    page = client.post(path, {f"q{how.pk}": "app", "action": "submit", "step": "1", "current": f"q{how.pk}"})

    assert page["Location"] == f"{path}?step=2"
    assert "The app?" in client.get(page["Location"]).content.decode()
    assert Response.objects.get().completed_at is None


def test_a_hidden_required_question_is_not_missing_and_its_old_answer_is_dropped(client, visit, alice, opened):
    survey, how, app = visit
    _, path = opened(survey, alice)
    client.post(path, {f"q{how.pk}": "app", f"q{app.pk}": "Crashes", "action": "save"})

    # The customer goes back and picks "shop": the app question is no longer asked
    done = client.post(path, {f"q{how.pk}": "shop", "action": "submit", "step": "1", "current": f"q{how.pk}"})

    assert done["Location"] == f"{path}thanks/"
    response = Response.objects.get()
    assert response.completed_at is not None
    assert list(response.answers.values_list("question_id", "value_text")) == [(how.pk, "shop")]


def test_an_expired_link_can_ask_for_a_fresh_one_once(client, nps, alice, opened, django_capture_on_commit_callbacks):
    invitation, path = opened(nps, alice)
    later = timezone.now() + timedelta(days=nps.link_validity_days + 1)

    with time_machine.travel(later):
        page = client.get(path)
        assert page.status_code == 410
        assert 'data-testid="fresh-link"' in page.content.decode()
        with django_capture_on_commit_callbacks(execute=False):
            asked = client.post(f"{path}fresh/")
            again = client.post(f"{path}fresh/")

    assert asked.status_code == again.status_code == 200
    assert "A new link is on its way." in asked.content.decode()
    fresh = Invitation.objects.get(source="renewal")
    assert Invitation.objects.filter(customer=alice).count() == 2
    assert (fresh.survey_id, fresh.channel, fresh.locale, fresh.status) == (nps.pk, invitation.channel, "en", "queued")
    assert fresh.expires_at == fresh.invited_at + timedelta(days=nps.link_validity_days)


def test_no_fresh_link_where_the_survey_does_not_allow_it(client, nps, alice, opened):
    Survey.objects.filter(pk=nps.pk).update(allow_fresh_link=False)
    invitation, path = opened(nps, alice)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    invitation.refresh_from_db()

    page = client.get(path).content.decode()

    assert 'data-testid="fresh-link"' not in page
    assert "This survey is closed" in page
    assert renew_invitation(invitation) is None
    assert Invitation.objects.count() == 1


def test_a_link_that_has_not_expired_is_not_renewed(nps, alice, opened):
    invitation, _ = opened(nps, alice)

    assert renew_invitation(invitation) is None
    assert Invitation.objects.count() == 1


def test_problem_pages_carry_the_programs_name_and_colours(client, nps, alice, opened):
    SurveySettings.objects.update_or_create(program=nps.program, defaults={"brand_color": "#7a1f5c"})
    invitation, _ = opened(nps, alice)
    Invitation.objects.filter(pk=invitation.pk).delete()

    # A validly signed link whose invitation is gone: still the program's page
    page = Client().get(f"/s/{sign_invitation(invitation)}/").content.decode()

    assert page.count("Acme") >= 2  # the brand line and the title
    assert f'href="/s/brand/{nps.program_id}.css"' in page
    css = Client().get(f"/s/brand/{nps.program_id}.css")
    assert (css["Content-Type"], css.content) == ("text/css; charset=utf-8", b":root { --brand: #7a1f5c; }\n")


@pytest.mark.parametrize(("locale", "expected"), [("en", "16 Mar 2026"), ("ms", "16 Mac 2026"), ("ar", "16 مارس 2026")])
def test_invitation_messages_write_the_expiry_date_as_the_pages_do(acme, locale, expected):
    from surveys.sending import message_context
    from tests.factories import CustomerFactory

    survey = make_survey(acme, "nps")
    customer = CustomerFactory(program=acme, external_id=f"m-{locale}", locale=locale)
    invitation = Invitation(program=acme, survey=survey, customer=customer, locale=locale, channel="email")
    # 23:30 UTC on the 15th is already the 16th in Kuala Lumpur
    invitation.expires_at = datetime(2026, 3, 15, 23, 30, tzinfo=UTC)

    assert message_context(invitation)["expires_on"] == expected
