"""End to end: API send -> real Celery worker -> email over SMTP -> answer page -> response,
`survey_answered` event and the NPS of GET /api/v1/metrics."""

import re

from django.test import Client

from engagement.models import Event
from surveys.answering import save_answers
from surveys.models import Invitation, Response
from surveys.sending import send_survey
from tests.conftest import wait_for
from tests.surveys.factories import make_survey

LINK = re.compile(r"http://127\.0\.0\.1:8000(/s/[^\s/]+/)")


def mail_to(mail_sink, address):
    return [m for m in mail_sink.messages() if address in str(m["To"])]


def test_api_send_to_email_to_answer_to_nps_metric(celery_worker, mail_sink, acme, alice, bob, acme_api):
    mail_sink.clear()
    survey = make_survey(acme, "nps", name="Acme NPS")
    # Given bob already answered 0 (a detractor): NPS -100
    bob_invitation = send_survey(survey=survey, customer=bob, source="api").invitation
    save_answers(bob_invitation, {survey.get_primary_question(): 0}, complete=True)
    before = acme_api.get("/api/v1/metrics", {"names": "nps"}).json()["metrics"]["nps"]
    assert (before["value"], before["numerator"], before["denominator"]) == ("-100.00", -1, 1)

    # When the partner sends the survey to alice through the API
    reply = acme_api.post(f"/api/v1/surveys/{survey.pk}/sends", {"customer": "alice"}, format="json")
    assert reply.status_code == 201
    invitation = Invitation.objects.get(pk=reply.json()["invitation"])

    # Then the worker emails her the signed link
    email = wait_for(lambda: mail_to(mail_sink, "alice@example.com"), timeout=60, message="the invitation email")[0]
    assert email["Subject"] == "Acme: a quick question for you"
    body = email.get_body(preferencelist=("plain",)).get_content()
    path = LINK.search(body).group(1)
    assert "http://127.0.0.1:8000" + path == reply.json()["link"]
    wait_for(lambda: Invitation.objects.get(pk=invitation.pk).status == "sent", message="status sent")

    # When she opens the page and answers 10
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(path)
    assert page.status_code == 200
    assert Invitation.objects.get(pk=invitation.pk).status == "opened"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    score, why = survey.questions.order_by("position")
    answered = browser.post(
        path,
        {f"q{score.pk}": "10", f"q{why.pk}": "Friendly baristas", "action": "submit", "csrfmiddlewaretoken": token},
    )
    assert answered.status_code == 302

    # Then the response, the event and the NPS metric all show it
    response = Response.objects.get(invitation=invitation)
    assert (response.score, response.category, response.channel) == (10, "promoter", "email")
    assert Invitation.objects.get(pk=invitation.pk).status == "answered"
    event = Event.objects.get(event_id=f"survey-answered-{invitation.pk}")
    assert (event.type, event.customer_id, event.properties) == (
        "survey_answered",
        alice.pk,
        {"survey": survey.pk, "kind": "nps", "score": 10},
    )
    wait_for(lambda: Event.objects.get(pk=event.pk).processed_at is not None, message="event processed")
    after = acme_api.get("/api/v1/metrics", {"names": "nps"}).json()["metrics"]["nps"]
    assert (after["value"], after["numerator"], after["denominator"]) == ("0.00", 0, 2)
