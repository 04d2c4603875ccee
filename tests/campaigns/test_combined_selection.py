"""A batch's candidates of every campaign come from one statement
(triggers.select_many_event_candidates): the same candidates, in the same order, as each
campaign's own selection; if the combined statement fails, each campaign is selected alone
in its savepoint and only the faulty one moves to error."""

import logging
from datetime import UTC, datetime, timedelta

from engagement.ingest import record_events
from engagement.models import Event
from engagement.processing import process_events, update_aggregates
from rewards.campaigns import triggers
from rewards.campaigns.engine import batch_events
from rewards.campaigns.models import Campaign, CampaignAction, CampaignEffect
from tests.campaigns.conftest import balance, ev, make_campaign
from tests.factories import CustomerFactory

START = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def _campaigns(program):
    return [
        make_campaign(program, "event", {"event_type": "purchase", "min_value": "40"}),
        make_campaign(
            program,
            "event",
            {"event_type": "page_view", "conditions": [{"field": "properties.url", "op": "eq", "value": "/checkout"}]},
        ),
        make_campaign(program, "nth_event", {"event_type": "purchase", "n": 2}),
        make_campaign(program, "ticket_unresolved", {"hours": 48}),
        make_campaign(
            program,
            "event",
            {"event_type": "purchase"},
            conditions=[{"field": "attributes.plan", "op": "eq", "value": "gold"}],
        ),
        make_campaign(program, "event", {"event_type": "app_uninstalled"}),  # none in the batch
    ]


def _events(program):
    gold = CustomerFactory(program=program, external_id="gold", attributes={"plan": "gold"})
    plain = CustomerFactory(program=program, external_id="plain")
    events = [
        ev(gold, "purchase", at=START, value=30, order_id="g1", event_id="e0"),
        ev(plain, "purchase", at=START + timedelta(minutes=1), value=45, order_id="p1", event_id="e1"),
        ev(gold, "purchase", at=START + timedelta(minutes=2), value=50, order_id="g2", event_id="e2"),
        ev(plain, "page_view", at=START + timedelta(minutes=3), url="/checkout", event_id="e3"),
        ev(gold, "page_view", at=START + timedelta(minutes=4), url="/", event_id="e4"),
        ev(plain, "ticket_opened", at=START + timedelta(minutes=5), ticket_id="T9", event_id="e5"),
    ]
    stored = record_events(program, events, enqueue=False).event_ids
    by_name = dict(Event.objects.filter(id__in=stored).values_list("event_id", "id"))
    return gold, plain, [by_name[f"e{n}"] for n in range(6)]


def _key(candidate):
    return candidate.customer_id, candidate.occurrence, candidate.occurred_at, candidate.value, candidate.context


def test_one_statement_selects_what_each_campaign_selects_alone(acme, django_assert_num_queries):
    campaigns = _campaigns(acme)
    gold, plain, ids = _events(acme)
    update_aggregates(ids)  # what processing does before the handlers (nth_event reads the counts)
    events = batch_events(ids)
    alone = {c.pk: [_key(x) for x in triggers.select_event_candidates(c, events)] for c in campaigns}

    # one statement, plus the nth_event rule's ranking of the customers' purchases
    with django_assert_num_queries(2):
        together = triggers.select_many_event_candidates([(c, events) for c in campaigns])

    assert {pk: [_key(x) for x in found] for pk, found in together.items()} == alone
    occurrences = {pk: [(x.customer_id, x.occurrence) for x in found] for pk, found in together.items()}
    first, checkout, second, ticket, golden, uninstalled = (c.pk for c in campaigns)
    assert occurrences[first] == [(gold.pk, f"event:{ids[2]}"), (plain.pk, f"event:{ids[1]}")]
    assert occurrences[checkout] == [(plain.pk, f"event:{ids[3]}")]
    assert occurrences[second] == [(gold.pk, "nth:2")]
    assert occurrences[ticket] == [(plain.pk, "ticket:T9")]
    assert occurrences[golden] == [(gold.pk, f"event:{ids[0]}"), (gold.pk, f"event:{ids[2]}")]
    assert occurrences[uninstalled] == []


def test_processing_grants_the_combined_selections_candidates(acme):
    campaigns = _campaigns(acme)
    gold, plain, ids = _events(acme)

    assert process_events(ids) == 6

    effects = sorted(CampaignEffect.objects.values_list("campaign_id", "customer_id", "occurrence", "status"))
    first, checkout, second, _ticket, golden, _uninstalled = (c.pk for c in campaigns)
    assert effects == sorted(
        [
            (first, plain.pk, f"event:{ids[1]}", "qualified"),
            (first, gold.pk, f"event:{ids[2]}", "qualified"),
            (checkout, plain.pk, f"event:{ids[3]}", "qualified"),
            (second, gold.pk, "nth:2", "qualified"),
            (golden, gold.pk, f"event:{ids[0]}", "qualified"),
            (golden, gold.pk, f"event:{ids[2]}", "qualified"),
        ]
    )
    # 10 points per effect; the ticket rule only waits (deferred)
    assert (balance(gold), balance(plain)) == (40, 20)


def test_a_failing_combined_selection_falls_back_to_one_campaign_at_a_time(acme, alice, caplog):
    good = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})])
    # Stored behind validation's back (issue 13's poison): a NaN bound that fails when the
    # statement is built, so the combined selection fails.
    bad = Campaign.objects.create(
        program=acme,
        name="Bad bound",
        status="active",
        trigger_kind="event",
        trigger_config={"event_type": "purchase", "min_value": "NaN"},
    )
    CampaignAction.objects.create(campaign=bad, kind="grant_points", config={"points": 1})
    ids = record_events(acme, [ev(alice, "purchase", at=START, value=10, order_id="x")], enqueue=False).event_ids

    with caplog.at_level(logging.WARNING, logger="rewards.campaigns.engine"):
        assert process_events(ids) == 1

    assert "combined candidate selection failed" in caplog.text
    bad.refresh_from_db()
    assert bad.status == "error" and bad.effects.count() == 0
    assert good.effects.count() == 1
    assert balance(alice) == 7
