import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from engagement.models import Event
from engagement.webhooks.models import WebhookEvent
from surveys.models import Answer, FollowUp, Invitation, Response
from surveys.tokens import invitation_path
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def invited(send):
    """invited(survey, customer) -> (invitation, answer page path), the message marked sent."""

    def _invite(survey, customer):
        invitation = send(survey, customer).invitation
        Invitation.objects.filter(pk=invitation.pk).update(status="sent", sent_at=invitation.invited_at)
        invitation.refresh_from_db()
        return invitation, invitation_path(invitation)

    return _invite


def fields(survey):
    score, why = survey.questions.order_by("position")
    return f"q{score.pk}", f"q{why.pk}"


def nothing_stored():
    return (Response.objects.count(), Answer.objects.count(), Event.objects.count(), WebhookEvent.objects.count())


def test_answer_page_in_english(client, nps, alice, invited):
    invitation, path = invited(nps, alice)

    page = client.get(path)

    html = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="en" dir="ltr">' in html
    assert "How likely are you to recommend Acme to a friend or colleague?" in html
    assert "0 = Not at all likely" in html
    assert "10 = Extremely likely" in html
    assert re.findall(r'data-testid="score-(\d+)"', html) == [str(n) for n in range(11)]
    assert 'name="csrfmiddlewaretoken"' in html
    invitation.refresh_from_db()
    assert invitation.status == "opened"


def test_a_second_view_records_nothing_and_writes_nothing(client, nps, alice, invited):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from surveys.models import InvitationStatusChange as StatusChange

    invitation, path = invited(nps, alice)
    assert client.get(path).status_code == 200
    invitation.refresh_from_db()
    opened_at, changes = invitation.opened_at, StatusChange.objects.count()

    with CaptureQueriesContext(connection) as queries:
        again = client.get(path)

    invitation.refresh_from_db()
    assert again.status_code == 200
    assert (invitation.status, invitation.opened_at) == ("opened", opened_at)
    assert StatusChange.objects.count() == changes
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [q for q in sql if q.startswith(("UPDATE", "INSERT")) or "FOR UPDATE" in q]


def test_answer_page_in_arabic_is_rtl_and_the_scale_still_starts_at_zero(client, nps, acme, invited):
    layla = CustomerFactory(program=acme, external_id="layla", locale="ar")
    _, path = invited(nps, layla)

    html = client.get(path).content.decode()

    assert '<html lang="ar" dir="rtl">' in html
    assert "ما مدى احتمال أن توصي بـ Acme لصديق أو زميل؟" in html
    # Document order 0..10 + dir=rtl: 0 sits at the start (right) and reads towards 10.
    assert re.findall(r'data-testid="score-(\d+)"', html) == [str(n) for n in range(11)]
    assert "0 = غير محتمل على الإطلاق" in html
    assert "10 = محتمل جدًا" in html
    assert "التالي" in html  # the "Next" button, translated


def test_answer_page_in_malay(client, nps, acme, invited):
    siti = CustomerFactory(program=acme, external_id="siti", locale="ms")
    _, path = invited(nps, siti)

    html = client.get(path).content.decode()

    assert '<html lang="ms" dir="ltr">' in html
    assert "Sejauh manakah anda akan mengesyorkan Acme kepada rakan atau rakan sekerja?" in html
    assert "Seterusnya" in html


def test_answer_is_stored_with_score_category_event_and_webhook(client, nps, alice, invited):
    invitation, path = invited(nps, alice)
    score_field, why_field = fields(nps)

    with time_machine.travel(T0, tick=False):
        page = client.post(path, {score_field: "9", why_field: "Great coffee", "action": "submit"})

    assert page.status_code == 302
    assert page["Location"] == path + "thanks/"
    response = Response.objects.get()
    assert (response.score, response.category, response.channel, response.completed_at) == (9, "promoter", "email", T0)
    assert list(response.answers.order_by("question__position").values_list("value_int", "value_text")) == [
        (9, ""),
        (None, "Great coffee"),
    ]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.answered_at) == ("answered", T0)
    event = Event.objects.get(type="survey_answered")
    assert (event.event_id, event.customer_id, event.occurred_at) == (f"survey-answered-{invitation.pk}", alice.pk, T0)
    assert event.properties == {"survey": nps.pk, "kind": "nps", "score": 9}
    webhook = WebhookEvent.objects.get()
    assert (webhook.type, webhook.payload["score"], webhook.payload["category"]) == ("survey.answered", 9, "promoter")
    assert FollowUp.objects.count() == 0
    thanks = client.get(page["Location"])
    assert "Thank you!" in thanks.content.decode()


def test_detractor_creates_a_follow_up_and_a_detractor_webhook(client, nps, alice, invited):
    invitation, path = invited(nps, alice)
    score_field, why_field = fields(nps)

    client.post(path, {score_field: "3", why_field: "Slow service", "action": "submit"})

    followup = FollowUp.objects.get()
    assert (followup.status, followup.response.category, followup.assignee) == ("needs_follow_up", "detractor", None)
    assert sorted(WebhookEvent.objects.values_list("type", flat=True)) == ["survey.answered", "survey.detractor"]
    detractor = WebhookEvent.objects.get(type="survey.detractor")
    assert detractor.payload["follow_up"] == followup.pk
    assert detractor.payload["answers"][1]["value"] == "Slow service"


@pytest.mark.parametrize(
    ("score", "category", "followups"), [(2, "not_satisfied", 1), (3, "not_satisfied", 0), (4, "satisfied", 0)]
)
def test_csat_categories_and_follow_up_at_two_or_below(client, csat, alice, invited, score, category, followups):
    _, path = invited(csat, alice)
    score_field, _ = fields(csat)

    client.post(path, {score_field: str(score), "action": "submit"})

    assert Response.objects.get().category == category
    assert FollowUp.objects.count() == followups


def test_partial_answers_are_saved_and_resumed_from_the_same_link(client, nps, alice, invited):
    invitation, path = invited(nps, alice)
    score_field, why_field = fields(nps)

    saved = client.post(path, {score_field: "6", "action": "save"})

    assert saved.status_code == 302
    response = Response.objects.get()
    assert (response.completed_at, response.score) == (None, None)
    assert list(response.answers.values_list("value_int", flat=True)) == [6]
    assert Event.objects.count() == 0
    resumed = client.get(saved["Location"]).content.decode()
    assert 'value="6" checked' in resumed
    assert "Your answers are saved" in resumed

    client.post(path, {why_field: "Too pricey", "action": "submit"})
    response.refresh_from_db()
    assert (response.score, response.category) == (6, "detractor")
    assert Event.objects.filter(type="survey_answered").count() == 1


def test_background_autosave_answers_204(client, nps, alice, invited):
    _, path = invited(nps, alice)
    score_field, _ = fields(nps)

    page = client.post(path, {score_field: "8", "action": "save"}, headers={"X-Requested-With": "fetch"})

    assert page.status_code == 204
    assert Answer.objects.get().value_int == 8


def test_second_answer_shows_already_answered_and_changes_nothing(client, nps, alice, invited):
    invitation, path = invited(nps, alice)
    score_field, _ = fields(nps)
    client.post(path, {score_field: "10", "action": "submit"})
    before = nothing_stored()

    replay = client.post(path, {score_field: "0", "action": "submit"})
    again = client.get(path)

    assert replay.status_code == 409
    assert "Already answered" in replay.content.decode()
    assert again.status_code == 200
    assert "You have already answered this survey" in again.content.decode()
    assert nothing_stored() == before
    assert Response.objects.get().score == 10


@pytest.mark.parametrize("value", ["11", "-1", "7.5", "ten"])
def test_score_outside_the_scale_is_a_clear_error_and_nothing_is_stored(client, nps, alice, invited, value):
    _, path = invited(nps, alice)
    score_field, why_field = fields(nps)

    page = client.post(path, {score_field: value, why_field: "hello", "action": "submit"})

    assert page.status_code == 400
    html = page.content.decode()
    assert "Please check the answers marked below." in html
    assert ("Choose a number from 0 to 10." in html) or ("Choose one number." in html)
    assert nothing_stored() == (0, 0, 0, 0)


def test_answer_to_a_question_not_in_the_survey_is_refused(client, nps, csat, alice, invited):
    _, path = invited(nps, alice)
    score_field, _ = fields(nps)
    other_field, _ = fields(csat)

    page = client.post(path, {score_field: "9", other_field: "5", "q999999": "1", "action": "submit"})

    assert page.status_code == 400
    assert page.content.decode().count("This question is not part of this survey.") == 2
    assert nothing_stored() == (0, 0, 0, 0)


def test_submit_without_the_required_score_is_refused(client, nps, alice, invited):
    _, path = invited(nps, alice)
    _, why_field = fields(nps)

    page = client.post(path, {why_field: "just words", "action": "submit"})

    assert page.status_code == 400
    assert "Please answer this question." in page.content.decode()
    assert nothing_stored() == (0, 0, 0, 0)


def test_expired_link_shows_a_clear_page_and_expires_the_invitation(client, nps, alice, invited):
    with time_machine.travel(T0, tick=False):
        invitation, path = invited(nps, alice)
    score_field, _ = fields(nps)

    with time_machine.travel(T0 + timedelta(days=14, seconds=1), tick=False):
        page = client.get(path)
        post = client.post(path, {score_field: "9", "action": "submit"})

    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    assert post.status_code == 410
    invitation.refresh_from_db()
    assert invitation.status == "expired"
    assert nothing_stored() == (0, 0, 0, 0)


@pytest.mark.parametrize("mangle", [lambda p: p[:-3] + "x/", lambda p: p.replace("~", "~A"), lambda p: "/s/nonsense/"])
def test_tampered_link_shows_a_clear_page(client, nps, alice, invited, mangle):
    _, path = invited(nps, alice)
    score_field, _ = fields(nps)

    page = client.get(mangle(path))
    post = client.post(mangle(path), {score_field: "9", "action": "submit"})

    assert page.status_code == 404
    assert "This link is not valid" in page.content.decode()
    assert post.status_code == 404
    assert nothing_stored() == (0, 0, 0, 0)


def test_a_validly_signed_token_naming_another_program_is_invalid(client, nps, alice, globex, invited):
    from surveys.tokens import _signer

    invitation, _ = invited(nps, alice)
    forged = _signer.sign(f"{globex.pk}.{invitation.token}")

    page = client.get(f"/s/{forged}/")

    assert page.status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "sent"


def test_post_without_csrf_token_is_refused(nps, alice, invited):
    _, path = invited(nps, alice)
    score_field, _ = fields(nps)
    strict = Client(enforce_csrf_checks=True)

    page = strict.post(path, {score_field: "9", "action": "submit"})

    assert page.status_code == 403
    assert nothing_stored() == (0, 0, 0, 0)


def test_post_with_the_form_csrf_token_is_accepted(nps, alice, invited):
    _, path = invited(nps, alice)
    score_field, _ = fields(nps)
    strict = Client(enforce_csrf_checks=True)
    html = strict.get(path).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    page = strict.post(path, {score_field: "9", "action": "submit", "csrfmiddlewaretoken": token})

    assert page.status_code == 302
    assert Response.objects.get().score == 9


def test_custom_survey_choices_are_validated(client, acme, alice, invited):
    from surveys.definitions import add_question

    survey = make_survey(acme, "custom", name="Menu")
    rating = add_question(survey, "rating", {"en": "Rate", "ar": "قيّم", "ms": "Nilai"}, scale_min=1, scale_max=5)
    colour = add_question(
        survey,
        "multiple_choice",
        {"en": "Which drinks?", "ar": "أي مشروبات؟", "ms": "Minuman apa?"},
        choices=[{"value": "kopi", "en": "Coffee"}, {"value": "teh", "en": "Tea"}],
    )
    _, path = invited(survey, alice)

    bad = client.post(path, {f"q{rating.pk}": "4", f"q{colour.pk}": ["kopi", "beer"], "action": "submit"})
    assert bad.status_code == 400
    assert "Choose one of the options shown." in bad.content.decode()
    good = client.post(path, {f"q{rating.pk}": "4", f"q{colour.pk}": ["teh", "kopi"], "action": "submit"})
    assert good.status_code == 302
    response = Response.objects.get()
    assert (response.score, response.category) == (4, "")
    assert response.answers.get(question=colour).value_choices == ["kopi", "teh"]
