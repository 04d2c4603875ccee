from datetime import UTC, datetime

import pytest

from surveys.models import Invitation, SendSkip, SurveySettings
from surveys.tokens import invitation_link
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey
from tests.surveys.test_reports import JAN, add_responses


@pytest.fixture(autouse=True)
def _no_delivery(django_capture_on_commit_callbacks):
    # API tests look at rows; keep on-commit deliveries out of the test Redis.
    with django_capture_on_commit_callbacks(execute=False):
        yield


def test_list_surveys_of_the_calling_program_only(acme_api, nps, globex):
    make_survey(globex, "csat", name="Globex CSAT")

    body = acme_api.get("/api/v1/surveys").json()

    assert body["count"] == 1
    survey = body["results"][0]
    assert (survey["id"], survey["kind"], survey["recontact_days"], survey["channels"]) == (
        nps.pk,
        "nps",
        90,
        ["email"],
    )
    assert survey["questions"][0]["text"]["ms"].startswith("Sejauh manakah")
    assert (survey["questions"][0]["scale_min"], survey["questions"][0]["scale_max"]) == (0, 10)


def test_send_answers_with_invitation_id_and_link(acme_api, nps, alice):
    reply = acme_api.post(f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json")

    assert reply.status_code == 201
    invitation = Invitation.objects.get()
    body = reply.json()
    assert (body["invitation"], body["status"], body["channel"], body["skipped_reason"]) == (
        invitation.pk,
        "queued",
        "email",
        "",
    )
    assert body["link"] == invitation_link(invitation)
    assert invitation.source == "api"


def test_send_with_idempotency_key_replays_and_creates_nothing_new(acme_api, nps, alice):
    first = acme_api.post(
        f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json", headers={"Idempotency-Key": "k1"}
    )
    again = acme_api.post(
        f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json", headers={"Idempotency-Key": "k1"}
    )

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Invitation.objects.count() == 1
    assert SendSkip.objects.count() == 0


def test_throttled_send_is_200_with_the_reason(acme_api, nps, alice):
    acme_api.post(f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json")

    reply = acme_api.post(f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json")

    assert reply.status_code == 200
    assert reply.json() == {
        "invitation": None,
        "status": "skipped",
        "channel": None,
        "link": None,
        "expires_at": None,
        "skipped_reason": "recontact_window",
    }


def test_held_send_is_202_without_a_link(acme_api, acme, alice):
    survey = make_survey(acme, "nps", throttled_action="hold")
    acme_api.post(f"/api/v1/surveys/{survey.pk}/sends", {"customer": "alice"}, format="json")

    reply = acme_api.post(f"/api/v1/surveys/{survey.pk}/sends", {"customer": "alice"}, format="json")

    assert reply.status_code == 202
    assert (reply.json()["status"], reply.json()["link"], reply.json()["skipped_reason"]) == (
        "held",
        None,
        "recontact_window",
    )


def test_send_to_a_customer_without_consent_is_a_recorded_skip(acme_api, nps, acme):
    CustomerFactory(program=acme, external_id="quiet", consent_email=False)

    reply = acme_api.post(f"/api/v1/surveys/{nps.pk}/sends", {"customer": "quiet"}, format="json")

    assert (reply.status_code, reply.json()["skipped_reason"]) == (200, "no_consent")
    assert SendSkip.objects.get().reason == "no_consent"


@pytest.mark.parametrize(
    ("body", "status", "attr", "code"),
    [
        ({}, 400, "customer", "required"),
        ({"customer": "nobody"}, 404, "customer", "not_found"),
        ({"customer": "alice", "channel": "fax"}, 400, "channel", "invalid_choice"),
    ],
)
def test_bad_send_requests_are_4xx_and_store_nothing(acme_api, nps, alice, body, status, attr, code):
    reply = acme_api.post(f"/api/v1/surveys/{nps.pk}/sends", body, format="json")

    assert reply.status_code == status
    assert [(e["attr"], e["code"]) for e in reply.json()["errors"]] == [(attr, code)]
    assert (Invitation.objects.count(), SendSkip.objects.count()) == (0, 0)


def test_another_programs_survey_is_a_404(partner_client, globex, nps, alice):
    client = partner_client(globex)
    CustomerFactory(program=globex, external_id="alice")

    for reply in (
        client.post(f"/api/v1/surveys/{nps.pk}/sends", {"customer": "alice"}, format="json"),
        client.get(f"/api/v1/surveys/{nps.pk}/report"),
        client.get(f"/api/v1/surveys/{nps.pk}/responses"),
    ):
        assert reply.status_code == 404
        assert reply.json()["type"] == "client_error"
    assert Invitation.objects.count() == 0


def test_report_and_responses(acme_api, nps, acme):
    SurveySettings.objects.create(program=acme, min_responses_per_period=1)
    add_responses(nps, [10, 9, 3], JAN, segment="Loyal")

    report = acme_api.get(f"/api/v1/surveys/{nps.pk}/report", {"period": "month"}).json()
    responses = acme_api.get(f"/api/v1/surveys/{nps.pk}/responses").json()

    assert (report["overall"]["responses"], report["overall"]["nps"]) == (3, round(100 / 3, 2))
    assert [p["period_start"] for p in report["periods"]] == ["2026-01-01"]
    assert responses["count"] == 3
    assert sorted(r["score"] for r in responses["results"]) == [3, 9, 10]
    assert {r["segment"] for r in responses["results"]} == {"Loyal"}
    detractors = acme_api.get(f"/api/v1/surveys/{nps.pk}/responses", {"category": "detractor"}).json()
    assert [r["score"] for r in detractors["results"]] == [3]


def test_report_bad_parameters_are_400(acme_api, nps):
    bad_period = acme_api.get(f"/api/v1/surveys/{nps.pk}/report", {"period": "year"})
    bad_time = acme_api.get(f"/api/v1/surveys/{nps.pk}/report", {"start": "yesterday"})
    reversed_range = acme_api.get(
        f"/api/v1/surveys/{nps.pk}/report",
        {"start": datetime(2026, 2, 1, tzinfo=UTC).isoformat(), "end": datetime(2026, 1, 1, tzinfo=UTC).isoformat()},
    )

    assert [r.status_code for r in (bad_period, bad_time, reversed_range)] == [400, 400, 400]
    assert [r.json()["errors"][0]["attr"] for r in (bad_period, bad_time, reversed_range)] == [
        "period",
        "start",
        "start",
    ]
