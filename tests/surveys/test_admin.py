import csv
import io

import pytest

from surveys.models import FollowUp, SurveySettings
from tests.surveys.test_reports import FEB, JAN, add_responses


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


def test_report_page_shows_nps_chart_and_too_few_responses(staff_client, nps, acme):
    SurveySettings.objects.create(program=acme, min_responses_per_period=5)
    add_responses(nps, [10] * 7 + [8] * 2 + [2], JAN, segment="Loyal")
    add_responses(nps, [9], FEB)

    page = staff_client.get(f"/admin/surveys/survey/{nps.pk}/report/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html
    assert "NPS per month" in html
    assert "too few responses" in html
    assert "<td>60.0</td>" in html  # January: 7 promoters, 1 detractor of 10
    assert "http://" not in html.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org/2000/svg", "")


def test_csv_export_of_a_survey(staff_client, nps, acme):
    add_responses(nps, [10, 3], JAN)

    reply = staff_client.get(f"/admin/surveys/survey/{nps.pk}/report/responses.csv")

    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert reply["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[0][:7] == ["response_id", "survey_id", "survey", "kind", "customer", "score", "category"]
    assert sorted((r[5], r[6]) for r in rows[1:]) == [("10", "promoter"), ("3", "detractor")]


def test_follow_up_list_and_resolve(staff_client, nps, alice, send, client):
    from surveys.answering import save_answers

    invitation = send(nps, alice).invitation
    score = nps.get_primary_question()
    save_answers(invitation, {score: 2}, complete=True)
    followup = FollowUp.objects.get()

    listing = staff_client.get("/admin/surveys/followup/")
    assert listing.status_code == 200
    assert "Needs follow-up" in listing.content.decode()

    change = staff_client.post(
        f"/admin/surveys/followup/{followup.pk}/change/",
        {"status": "resolved", "assignee": staff_client.user.pk, "note": "Called, refunded."},
    )
    assert change.status_code == 302
    followup.refresh_from_db()
    assert (followup.status, followup.assignee, followup.note) == ("resolved", staff_client.user, "Called, refunded.")
    assert followup.resolved_at is not None


def test_survey_change_page_edits_all_three_languages(staff_client, nps):
    page = staff_client.get(f"/admin/surveys/survey/{nps.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    for field in ("text_en", "text_ar", "text_ms"):
        assert f"questions-0-{field}" in html
