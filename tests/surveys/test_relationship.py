from datetime import UTC, datetime, timedelta

import time_machine

from engagement.models import CustomerScore
from surveys.answering import save_answers
from surveys.models import Invitation, SendSkip
from surveys.relationship import due_relationship_surveys, send_relationship_sample
from surveys.tasks import send_relationship_sample_task
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def customers_in(program, segment, count, prefix):
    out = []
    for n in range(count):
        customer = CustomerFactory(program=program, external_id=f"{prefix}-{n}")
        CustomerScore.objects.create(customer=customer, program=program, segment=segment, scored_at=T0)
        out.append(customer)
    return out


def test_ten_percent_of_loyal_rounded_up_and_idempotent_per_period(acme, django_capture_on_commit_callbacks):
    loyal = customers_in(acme, "Loyal", 25, "loyal")
    customers_in(acme, "At risk", 5, "risk")
    survey = make_survey(acme, "nps", relationship_segment="Loyal", relationship_percent=10)

    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=False):
        first = send_relationship_sample(survey)
        again = send_relationship_sample(survey)

    assert (first.eligible, first.sampled, first.outcomes) == (25, 3, {"sent": 3})
    assert again.sampled == 3
    invited = set(Invitation.objects.values_list("customer_id", flat=True))
    assert len(invited) == 3
    assert invited <= {c.pk for c in loyal}
    assert set(Invitation.objects.values_list("source", flat=True)) == {"relationship"}
    assert SendSkip.objects.count() == 0
    survey.refresh_from_db()
    assert survey.relationship_last_run_at == T0


def test_due_surveys_come_round_each_period(acme):
    survey = make_survey(acme, "nps", relationship_segment="Loyal", relationship_percent=10, relationship_every_days=30)
    assert due_relationship_surveys(now=T0) == [survey]
    survey.relationship_last_run_at = T0
    survey.save()
    # Periods are fixed 30-day blocks of the calendar; T0 falls in one that ends within 30 days.
    later = [due_relationship_surveys(now=T0 + timedelta(days=d)) for d in (0, 31)]
    assert later == [[], [survey]]


def test_task_tolerates_a_deleted_survey(db):
    assert send_relationship_sample_task.run(987654) is None


def test_response_keeps_the_segment_at_answer_time(acme, alice, send):
    CustomerScore.objects.create(customer=alice, program=acme, segment="Champions", scored_at=T0)
    survey = make_survey(acme, "nps")
    invitation = send(survey, alice).invitation

    response = save_answers(invitation, {survey.get_primary_question(): 10}, complete=True)

    assert response.segment == "Champions"
