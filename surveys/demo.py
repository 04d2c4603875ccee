"""Demo data for surveys (order 30): an NPS and a CSAT survey with a few hundred responses
spread over the last five months, and a detractor follow-up list.

Past invitations are written through surveys.states.import_history, in one statement per
survey with their history rows (a history, not sends: no emails go out); answers go through surveys.answering.save_answers so responses,
follow-ups and webhooks are real; the `survey_answered` events are recorded in one batch. Seeded, and idempotent: a survey that
already has demo invitations is left alone.
"""

import random
from datetime import timedelta

from django.utils import timezone

from engagement.ingest import record_events
from engagement.models import Customer
from surveys import states
from surveys.answering import answered_event, save_answers
from surveys.definitions import create_survey
from surveys.models import FollowUp, Invitation, Survey, SurveySettings

DAYS = 150
WHY = {
    "high": {
        "en": ["Friendly baristas", "Great coffee every time", "The app makes ordering easy", "Love the rewards"],
        "ms": ["Barista yang mesra", "Kopi sentiasa sedap", "Aplikasi mudah digunakan"],
        "ar": ["قهوة ممتازة دائمًا", "موظفون ودودون", "التطبيق سهل الاستخدام"],
    },
    "low": {
        "en": ["Waited too long", "My order was wrong", "Prices went up", "The app keeps crashing"],
        "ms": ["Menunggu terlalu lama", "Pesanan saya salah", "Harga semakin mahal"],
        "ar": ["انتظرت طويلًا", "كان طلبي خاطئًا", "الأسعار ارتفعت"],
    },
}
# name, kind, invitations, answer rate
PLANS = [
    ("Acme relationship NPS", Survey.Kind.NPS, 320, 0.7),
    ("Acme CSAT after purchase", Survey.Kind.CSAT, 240, 0.75),
]


def load_demo_surveys(program, progress):
    SurveySettings.for_program(program)
    rng = random.Random(30)
    customers = list(Customer.objects.filter(program=program, erased_at__isnull=True).select_related("program"))
    if not customers:
        return
    now = timezone.now()
    todo = []
    for name, kind, count, answer_rate in PLANS:
        survey = Survey.objects.filter(program=program, name=name).first()
        if survey is None:
            survey = create_survey(program=program, name=name, kind=kind, channels=["email", "whatsapp", "sms"])
            if kind == Survey.Kind.NPS:
                Survey.objects.filter(pk=survey.pk).update(relationship_segment="Loyal", relationship_percent=10)
        if not survey.invitations.filter(source="demo").exists():
            todo.append((survey, rng.sample(customers, min(count, len(customers))), answer_rate))
    # One bar for all the surveys' invitations, its total known from the start.
    bar = progress(total=sum(len(sample) for _, sample, _ in todo), desc="survey responses")
    for survey, sample, answer_rate in todo:
        _load_history(survey, sample, answer_rate, rng, now, bar)
    bar.close()


def _load_history(survey, customers, answer_rate, rng, now, bar):
    """The invitations are history: planned in Python and inserted in one statement, each
    with its final status (opened when answered, expired when past its link validity); then
    the answers go through save_answers, one response each."""
    validity = timedelta(days=survey.link_validity_days)
    primary, why = survey.get_primary_question(), survey.questions.filter(is_followup=True).first()
    invitations, answered = [], []
    for customer in customers:
        invited_at = now - timedelta(days=rng.uniform(1, DAYS))
        invitation = Invitation(
            program=survey.program,
            survey=survey,
            customer=customer,
            channel=rng.choice(["email", "email", "email", "whatsapp", "sms"]),
            locale=customer.get_locale(),
            source="demo",
            invited_at=invited_at,
            sent_at=invited_at,
            delivered_at=invited_at + timedelta(minutes=1),
            expires_at=invited_at + validity,
            created_at=invited_at,
        )
        answered_at = invited_at + timedelta(hours=rng.uniform(0.1, 96))
        if rng.random() < answer_rate and answered_at < now:
            score = _score(survey.kind, (now - invited_at).days, rng)
            answers = {primary: score}
            if why is not None and rng.random() < 0.6:
                high = score >= (9 if survey.kind == Survey.Kind.NPS else 4)
                answers[why] = rng.choice(WHY["high" if high else "low"][invitation.locale])
            invitation.opened_at = answered_at
            answered.append((invitation, answers, answered_at))
            status = Invitation.Status.OPENED
        elif invitation.expires_at <= now:
            status = Invitation.Status.EXPIRED
        else:
            status = Invitation.Status.DELIVERED
        invitations.append((invitation, status))
    states.import_history(invitations, reason="demo history")
    bar.update(len(invitations) - len(answered))
    events = []
    for invitation, answers, answered_at in answered:
        response = save_answers(invitation, answers, complete=True, now=answered_at, record_event=False)
        events.append(answered_event(invitation, response, answered_at))
        bar.update(1)
    record_events(survey.program, events)
    _work_the_follow_ups(survey, now, rng)


def _score(kind, age_days, rng):
    if kind == Survey.Kind.NPS:
        # Older answers are a little worse: the trend chart shows NPS improving.
        improvement = (DAYS - age_days) / DAYS
        weights = [2, 1, 1, 2, 2, 3, 5, 9, 14, 18 + 8 * improvement, 14 + 10 * improvement]
        return rng.choices(range(11), weights=weights)[0]
    return rng.choices(range(1, 6), weights=[4, 5, 10, 38, 43])[0]


def _work_the_follow_ups(survey, now, rng):
    """Older follow-ups are mostly resolved; recent ones still need someone."""
    for followup in FollowUp.objects.filter(response__survey=survey, status=FollowUp.Status.NEEDS_FOLLOW_UP):
        age = (now - followup.created_at).days
        if age > 30 and rng.random() < 0.8:
            followup.status = FollowUp.Status.RESOLVED
            followup.resolved_at = followup.created_at + timedelta(days=rng.randint(1, 5))
            followup.note = "Called the customer; apologised and offered a free drink."
            followup.save(update_fields=["status", "resolved_at", "note"])
        elif age > 7 and rng.random() < 0.5:
            followup.status = FollowUp.Status.IN_PROGRESS
            followup.note = "Emailed the customer, waiting for a reply."
            followup.save(update_fields=["status", "note"])
