"""Event campaigns selected in Python over the batch's rows read once (row_filters) select
exactly what their SQL selection selects: same candidates, same order, for rules of every
compiled form and for events whose properties differ in JSON type; rules it cannot decide
alike are left to SQL."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from engagement.ingest import record_events
from engagement.models import Customer
from engagement.processing import update_aggregates
from rewards.campaigns import row_filters, triggers
from rewards.campaigns.engine import batch_events
from tests.campaigns.conftest import ev, make_campaign
from tests.factories import CustomerFactory

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RULES = [
    ("event", {"event_type": "purchase", "min_value": "40"}),
    ("event", {"event_type": "purchase", "max_value": "40.00"}),
    ("event", {"event_type": "purchase", "conditions": [{"field": "value", "op": "gt", "value": 30}]}),
    ("event", {"event_type": "purchase", "conditions": [{"field": "value", "op": "exists", "value": False}]}),
    ("event", {"event_type": "purchase", "conditions": [{"field": "properties.recurring", "op": "eq", "value": True}]}),
    ("event", {"event_type": "purchase", "conditions": [{"field": "properties.qty", "op": "eq", "value": 2}]}),
    ("event", {"event_type": "page_view", "conditions": [{"field": "properties.url", "op": "eq", "value": "/x"}]}),
    ("event", {"event_type": "page_view", "conditions": [{"field": "properties.url", "op": "exists", "value": True}]}),
    ("event", {"event_type": "page_view", "conditions": [{"field": "properties.url", "op": "exists", "value": False}]}),
    ("survey_answered", {"kind": "nps", "band": "promoter"}),
    ("survey_answered", {"kind": "nps", "band": "detractor", "survey": 4}),
    ("ticket_unresolved", {"hours": 48}),
    ("nth_event", {"event_type": "purchase", "n": 2}),
    ("referral_converted", {}),
]


def _events(program):
    ann, ben, gone = (CustomerFactory(program=program, external_id=name) for name in ("ann", "ben", "gone"))
    at = iter(START + timedelta(minutes=n) for n in range(100))
    events = [
        ev(ann, "purchase", at=next(at), value=40, recurring=True, qty=2),
        ev(ann, "purchase", at=next(at), value="39.99", recurring="true", qty=2.0),
        ev(ben, "purchase", at=next(at), recurring=1, qty="2"),
        ev(ben, "purchase", at=next(at), value=55, qty=True),
        ev(gone, "purchase", at=next(at), value=90, recurring=True),
        ev(ann, "page_view", at=next(at), url="/x"),
        ev(ben, "page_view", at=next(at), url=None),
        ev(ben, "page_view", at=next(at), path="/x"),
        ev(ann, "survey_answered", at=next(at), kind="nps", score=9, survey=4),
        ev(ben, "survey_answered", at=next(at), kind="nps", score="10", survey="4"),
        ev(ann, "survey_answered", at=next(at), kind="nps", score=3, survey="4"),
        ev(ben, "survey_answered", at=next(at), kind="nps", score=2.5, survey=4),
        ev(ben, "survey_answered", at=next(at), kind="csat", score=5),
        ev(ann, "ticket_opened", at=next(at), ticket_id="T1"),
        ev(ben, "referral_converted", at=next(at), referred_customer="zed"),
    ]
    ids = record_events(program, events, enqueue=False).event_ids
    Customer.objects.filter(pk=gone.pk).update(erased_at=timezone.now())
    update_aggregates(ids)
    return (ann, ben, gone), ids


def _key(candidate):
    return candidate.customer_id, candidate.occurrence, candidate.occurred_at, candidate.value, candidate.context


def _by_campaign(selected):
    return {pk: [_key(c) for c in found] for pk, found in selected.items()}


def test_python_selection_equals_sql_selection(acme, django_assert_num_queries):
    campaigns = [make_campaign(acme, kind, config) for kind, config in RULES]
    (ann, ben, _gone), ids = _events(acme)
    assert all(row_filters.row_filter(c) is not None for c in campaigns)
    rows = row_filters.read_batch_rows(acme.pk, ids)
    selections, mine = [], {}
    for campaign in campaigns:
        types = triggers.event_types(campaign)
        mine[campaign.pk] = [row for row in rows if row["type"] in types]
        selections.append((campaign, batch_events([row["id"] for row in mine[campaign.pk]])))

    in_sql = triggers.select_many_event_candidates(selections)
    with django_assert_num_queries(1):  # the nth_event rule's ranking only: no selection statement
        in_python = triggers.select_many_event_candidates(selections, mine)

    assert _by_campaign(in_python) == _by_campaign(in_sql)
    occurrences = [sorted(c.occurrence for c in in_python[campaign.pk]) for campaign in campaigns]
    assert occurrences == [
        [f"event:{ids[0]}", f"event:{ids[3]}"],  # >= 40 (the erased customer's 90 never)
        [f"event:{ids[0]}", f"event:{ids[1]}"],  # <= 40.00
        [f"event:{ids[0]}", f"event:{ids[1]}", f"event:{ids[3]}"],  # > 30
        [f"event:{ids[2]}"],  # no value
        [f"event:{ids[0]}"],  # true, not "true" nor 1
        [f"event:{ids[0]}", f"event:{ids[1]}"],  # 2 and 2.0, not "2" nor true
        [f"event:{ids[5]}"],
        [f"event:{ids[5]}", f"event:{ids[6]}"],  # a JSON null is there
        [f"event:{ids[7]}"],
        [f"event:{ids[8]}"],  # 9; "10" is a string, not in the band
        [f"event:{ids[10]}", f"event:{ids[11]}"],  # survey 4 or "4"; 2.5 is a number in 0-6
        ["ticket:T1"],
        ["nth:2", "nth:2"],
        [f"event:{ids[14]}"],
    ]
    assert [c.customer_id for c in in_python[campaigns[-2].pk]] == [ann.pk, ben.pk]


def test_rules_python_cannot_decide_alike_are_left_to_sql(acme):
    left_to_sql = [
        make_campaign(acme, "event", {"event_type": "purchase", "conditions": [{"field": f, "op": op, "value": v}]})
        for f, op, v in [
            ("properties.url", "ne", "/x"),
            ("properties.url", "in", ["/x"]),
            ("properties.a.b", "eq", "x"),
            ("properties.0", "eq", "x"),
            ("properties.ratio", "eq", 0.5),
            ("value", "ne", 3),
        ]
    ]
    left_to_sql.append(
        make_campaign(
            acme, "event", {"event_type": "purchase"}, conditions=[{"field": "tier", "op": "eq", "value": "gold"}]
        )
    )
    left_to_sql.append(
        make_campaign(acme, "event", {"event_type": "purchase"}, audience={"kind": "tier", "values": ["g"]})
    )
    assert [row_filters.row_filter(c) for c in left_to_sql] == [None] * len(left_to_sql)


def test_json_comparisons_follow_jsonb():
    from decimal import Decimal

    assert [row_filters.json_eq(v, 2) for v in (2, Decimal("2.0"), True, "2", None)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert [row_filters.json_eq(v, True) for v in (True, 1, "true")] == [True, False, False]
    assert [row_filters.has_key(v, "a") for v in ({"a": None}, ["a", 1], "a", ["b"], 7)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_nth_rules_of_one_type_share_one_ranking(acme, django_assert_num_queries):
    second = make_campaign(acme, "nth_event", {"event_type": "purchase", "n": 2})
    every = make_campaign(acme, "nth_event", {"event_type": "purchase", "n": 1, "repeat": True})
    view = make_campaign(acme, "nth_event", {"event_type": "page_view", "n": 1})
    (ann, ben, _gone), ids = _events(acme)
    rows = row_filters.read_batch_rows(acme.pk, ids)
    selections, mine = [], {}
    for campaign in (second, every, view):
        mine[campaign.pk] = [row for row in rows if row["type"] in triggers.event_types(campaign)]
        selections.append((campaign, batch_events([row["id"] for row in mine[campaign.pk]])))

    with django_assert_num_queries(2):  # one ranking of the purchases, one of the page views
        selected = triggers.select_many_event_candidates(selections, mine)

    assert [(c.customer_id, c.occurrence, c.context["event_pk"]) for c in selected[second.pk]] == [
        (ann.pk, "nth:2", ids[1]),
        (ben.pk, "nth:2", ids[3]),
    ]
    assert [(c.customer_id, c.occurrence, c.context["event_pk"]) for c in selected[every.pk]] == [
        (ann.pk, "nth:1", ids[0]),
        (ann.pk, "nth:2", ids[1]),
        (ben.pk, "nth:1", ids[2]),
        (ben.pk, "nth:2", ids[3]),
    ]
    assert [(c.customer_id, c.occurrence, c.context["event_pk"]) for c in selected[view.pk]] == [
        (ann.pk, "nth:1", ids[5]),
        (ben.pk, "nth:1", ids[6]),
    ]
