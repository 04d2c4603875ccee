"""save_answers locks the invitation's row and nothing else: answers to one survey do not
wait for each other, and the customer's events can be ingested (and processed) meanwhile."""

import psycopg
import pytest
from django.db import transaction

from surveys.answering import save_answers
from surveys.models import Invitation, Survey
from surveys.sending import send_survey
from tests.db_sessions import other_session_dsn
from tests.surveys.factories import make_survey


def _locked(other, table, pk, mode):
    """Whether another session finds the row locked against `mode` (NOWAIT)."""
    try:
        with other.transaction():
            other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR {mode} NOWAIT", [pk])
        return False
    except psycopg.errors.LockNotAvailable:
        return True


@pytest.mark.django_db(transaction=True)
def test_answering_locks_the_invitation_only(acme, alice, django_capture_on_commit_callbacks):
    survey = make_survey(acme, Survey.Kind.NPS, name="Acme NPS")
    with django_capture_on_commit_callbacks(execute=False):
        invitation = send_survey(survey=survey, customer=alice, source="api").invitation
    Invitation.objects.filter(pk=invitation.pk).update(status="sent", sent_at=invitation.invited_at)
    score = survey.questions.order_by("position").first()

    with psycopg.connect(other_session_dsn(), autocommit=True) as other:
        # While an answer is being saved (its transaction open)
        with transaction.atomic():
            save_answers(invitation, {score: 9}, complete=False)

            # Then its invitation is locked, and neither the survey nor the customer is: another
            # answer to the survey and an event of the customer go ahead
            assert _locked(other, "surveys_invitation", invitation.pk, "UPDATE") is True
            assert _locked(other, "surveys_survey", survey.pk, "UPDATE") is False
            assert _locked(other, "engagement_customer", alice.pk, "KEY SHARE") is False
            assert _locked(other, "engagement_customer", alice.pk, "NO KEY UPDATE") is False
