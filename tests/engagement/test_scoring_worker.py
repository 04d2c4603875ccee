"""A full re-score and an incremental re-score through a real Celery worker (PostgreSQL, Redis)."""

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer, CustomerScore, Event, ScoreTransition, ScoringQueueEntry
from engagement.tasks import rescore_program_task, rescore_queued_customers_task
from tests.conftest import wait_for

# Target (R, F, M) per customer. 15 purchasers, exactly 3 per score level in each dimension,
# with distinct values, so that rank-based quintiles give exactly these scores.
PLAN = {
    "cant-lose": ((1, 5, 5), "Can't lose"),
    "champion": ((5, 5, 5), "Champions"),
    "loyal": ((3, 4, 4), "Loyal"),
    "at-risk": ((2, 3, 3), "At risk"),
    "needs-attention": ((3, 3, 3), "Needs attention"),
    "potential": ((4, 2, 2), "Potential loyalist"),
    "new": ((5, 1, 1), "New"),
    "promising": ((4, 1, 1), "Promising"),
    "lost": ((1, 1, 1), "Lost"),
    "hibernating": ((2, 2, 2), "Hibernating"),
    "others": ((3, 2, 2), "Others"),
    "extra-5": ((5, 5, 5), "Champions"),
    "extra-4": ((4, 4, 4), "Champions"),
    "extra-2": ((2, 4, 4), "Loyal"),
    "extra-1": ((1, 3, 3), "At risk"),
}


def rank_positions():
    """customer -> (r, f, m) rank position 1..15 (3 slots per level, in PLAN order)."""
    slots = [dict() for _ in range(3)]
    positions = {}
    for name, (levels, _) in PLAN.items():
        pos = []
        for dim, level in enumerate(levels):
            slot = slots[dim].get(level, 0)
            slots[dim][level] = slot + 1
            pos.append((level - 1) * 3 + slot + 1)
        positions[name] = pos
    return positions


def build_plan_events(program, now):
    ids = itertools.count()
    events = []
    for name, (r_pos, f_pos, m_pos) in rank_positions().items():
        customer = Customer.objects.create(program=program, external_id=name)
        last = now - timedelta(days=(16 - r_pos) * 10)  # rank 15 -> 10 days ago (best)
        for k in range(f_pos):  # f_pos purchases; the first carries the monetary rank
            value = Decimal(m_pos * 100 - (f_pos - 1)) if k == 0 else Decimal(1)
            events.append(
                Event(
                    program=program,
                    customer=customer,
                    event_id=f"w-{next(ids)}",
                    type="purchase",
                    occurred_at=last - timedelta(days=k),
                    value=value,
                    properties={"order_id": f"{name}-{k}"},
                    processed_at=now,
                )
            )
    Event.objects.bulk_create(events)


def test_rescore_through_a_real_worker(celery_worker, acme):
    now = timezone.now()
    build_plan_events(acme, now)
    idle = Customer.objects.create(program=acme, external_id="idle")

    rescore_program_task.delay(acme.pk)
    wait_for(lambda: CustomerScore.objects.filter(program=acme).count() == 16, message="scores")

    scores = {s.customer.external_id: s for s in CustomerScore.objects.select_related("customer")}
    for name, (levels, segment) in PLAN.items():
        assert ((scores[name].r_score, scores[name].f_score, scores[name].m_score), scores[name].segment) == (
            levels,
            segment,
        ), name
    assert (scores["idle"].segment, scores["idle"].engagement_score, scores["idle"].churn_risk) == (
        "Others",
        Decimal("0.00"),
        Decimal("1.000"),
    )
    assert scores["cant-lose"].engagement_score > scores["lost"].engagement_score
    segment_transitions = dict(
        ScoreTransition.objects.filter(kind="segment").values_list("customer__external_id", "to_value")
    )
    assert segment_transitions == {name: segment for name, (_, segment) in PLAN.items()} | {"idle": "Others"}
    assert ScoreTransition.objects.count() == 16 * 3

    first_ids = max(ScoreTransition.objects.values_list("id", flat=True))
    # Incremental: the idle customer buys through the partner pipeline; the worker processes the
    # events (queueing him), then the incremental task re-scores.
    record_events(
        acme,
        [
            CleanEvent(
                event_id="idle-buys",
                type="purchase",
                customer="idle",
                occurred_at=now - timedelta(seconds=5),
                value=Decimal("5000.00"),
                currency="MYR",
                properties={"order_id": "big"},
            )
        ],
    )
    wait_for(lambda: ScoringQueueEntry.objects.filter(customer=idle).exists(), message="queued")
    rescore_queued_customers_task.delay()
    wait_for(lambda: not ScoringQueueEntry.objects.exists(), message="incremental re-score")

    wait_for(lambda: ScoreTransition.objects.filter(customer=idle, kind="segment").count() == 2, message="transition")
    idle_score = CustomerScore.objects.get(customer=idle)
    assert (idle_score.r_score, idle_score.f_score, idle_score.m_score, idle_score.frequency) == (5, 1, 5, 1)
    assert idle_score.segment == "New"
    assert list(
        ScoreTransition.objects.filter(customer=idle, kind="segment")
        .order_by("id")
        .values_list("from_value", "to_value")
    ) == [("", "Others"), ("Others", "New")]
    # The pass after new events is the full pass at that instant: idle, now the 16th purchaser
    # and near the top of the engagement ranking, moves others down a band or a quintile.
    moved = ScoreTransition.objects.exclude(customer=idle).filter(id__gt=first_ids)
    assert sorted(moved.values_list("customer__external_id", "kind", "from_value", "to_value")) == [
        ("at-risk", "score", "30", "20"),
        ("cant-lose", "score", "10", "0"),
        ("hibernating", "score", "20", "10"),
        ("potential", "score", "50", "40"),
        ("potential", "segment", "Potential loyalist", "Others"),
        ("promising", "score", "40", "30"),
    ]
