"""Each trigger kind, through the real processing path (or the beat functions)."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.utils import timezone

from engagement import hooks
from engagement.models import ScoreTransition
from rewards.campaigns import scheduling
from rewards.campaigns.models import CampaignEffect, PendingTrigger, TeamNotification
from tests.campaigns.conftest import ago, balance, ev, ingest, make_campaign


def effects(campaign):
    return sorted(CampaignEffect.objects.filter(campaign=campaign).values_list("customer__external_id", "occurrence"))


def test_event_trigger_with_value_condition_grants_only_big_purchases(acme, alice, bob):
    campaign = make_campaign(acme, "event", {"event_type": "purchase", "min_value": "100"})
    ids = ingest(
        acme, [ev(alice, "purchase", value="150.00", order_id="1"), ev(bob, "purchase", value="99.99", order_id="2")]
    )

    assert effects(campaign) == [("alice", f"event:{ids[0]}")]
    assert (balance(alice), balance(bob)) == (10, 0)


def test_event_trigger_property_condition(acme, alice, bob):
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase", "conditions": [{"field": "properties.recurring", "op": "eq", "value": True}]},
    )
    ingest(
        acme,
        [
            ev(alice, "purchase", value="10", order_id="1", recurring=True),
            ev(bob, "purchase", value="10", order_id="2"),
        ],
    )

    assert [c for c, _ in effects(campaign)] == ["alice"]


def test_nth_event_grants_the_fifth_purchase_once(acme, alice, bob):
    campaign = make_campaign(acme, "nth_event", {"event_type": "purchase", "n": 5})
    ingest(acme, [ev(alice, "purchase", value="5", order_id=f"a{i}", at=ago(days=10 - i)) for i in range(4)])
    ingest(acme, [ev(bob, "purchase", value="5", order_id=f"b{i}") for i in range(3)])
    assert effects(campaign) == []

    # the 5th and 6th arrive in one batch: only the 5th is the milestone
    ingest(acme, [ev(alice, "purchase", value="5", order_id=f"a{i}", at=ago(days=5 - i)) for i in range(4, 6)])

    assert effects(campaign) == [("alice", "nth:5")]
    assert balance(alice) == 10


def test_nth_event_repeat_every_nth(acme, alice):
    campaign = make_campaign(acme, "nth_event", {"event_type": "session", "n": 2, "repeat": True})
    props = {"duration_seconds": 5, "page_views": 1, "exit_page": "/"}
    ingest(acme, [ev(alice, "session", at=ago(minutes=10 - i), **props) for i in range(5)])

    assert effects(campaign) == [("alice", "nth:2"), ("alice", "nth:4")]


def _transition(customer, kind, before, after):
    return ScoreTransition.objects.create(
        program=customer.program,
        customer=customer,
        kind=kind,
        from_value=before,
        to_value=after,
        occurred_at=timezone.now(),
    )


def test_score_threshold_crossing_up(acme, alice, bob):
    campaign = make_campaign(acme, "score_threshold", {"threshold": 80})
    up = _transition(alice, "score", "72.5", "81")
    not_enough = _transition(bob, "score", "65", "79")
    down = _transition(bob, "score", "85", "75")

    hooks.run_transition_handlers(acme.pk, [up.pk, not_enough.pk, down.pk])

    assert effects(campaign) == [("alice", f"transition:{up.pk}")]


def test_segment_entered_and_churn_risk(acme, alice, bob):
    at_risk = make_campaign(acme, "segment_entered", {"segments": ["At risk"]})
    churn = make_campaign(acme, "churn_risk", {"above": 0.7})
    entered = _transition(alice, "segment", "Loyal", "At risk")
    other = _transition(bob, "segment", "Loyal", "Champions")
    risk_up = _transition(bob, "churn_risk", "0.6", "0.75")
    risk_down = _transition(alice, "churn_risk", "0.9", "0.5")

    hooks.run_transition_handlers(acme.pk, [entered.pk, other.pk, risk_up.pk, risk_down.pk])

    assert effects(at_risk) == [("alice", f"transition:{entered.pk}")]
    assert effects(churn) == [("bob", f"transition:{risk_up.pk}")]


def test_inactivity_win_back_once_per_spell(acme, alice, bob):
    campaign = make_campaign(acme, "inactivity", {"days": 30})
    ingest(acme, [ev(alice, "cart_updated", at=ago(days=40)), ev(bob, "cart_updated", at=ago(days=3))])

    scheduling.run_scheduled_triggers()
    scheduling.run_scheduled_triggers()

    assert [c for c, _ in effects(campaign)] == ["alice"]
    assert balance(alice) == 10


def test_cart_abandoned_then_purchase_within_15_minutes_sends_nothing(acme, alice):
    campaign = make_campaign(
        acme, "cart_abandoned", {"minutes": 15}, [("send_message", {"template_key": "cart_abandoned"})]
    )
    start = timezone.now()
    ingest(acme, [ev(alice, "cart_abandoned", at=start)])
    ingest(acme, [ev(alice, "purchase", value="30", order_id="o1", at=start + timedelta(minutes=10))])

    assert scheduling.release_due_triggers(now=start + timedelta(minutes=16)) == 1

    assert effects(campaign) == []
    assert list(PendingTrigger.objects.values_list("status", flat=True)) == ["cancelled"]
    assert alice.messages.count() == 0


def test_cart_abandoned_without_purchase_messages_every_consented_channel(acme, alice):
    alice.consent_sms = True
    alice.phone = "+60123456789"
    alice.save()
    campaign = make_campaign(
        acme, "cart_abandoned", {"minutes": 15}, [("send_message", {"template_key": "cart_abandoned"})]
    )
    start = timezone.now()
    ingest(acme, [ev(alice, "cart_abandoned", at=start)])
    # a purchase after the 15 minutes does not cancel it
    ingest(acme, [ev(alice, "purchase", value="30", order_id="o1", at=start + timedelta(minutes=20))])

    assert scheduling.release_due_triggers(now=start + timedelta(minutes=14)) == 0
    assert scheduling.release_due_triggers(now=start + timedelta(minutes=21)) == 1

    assert len(effects(campaign)) == 1
    assert sorted(alice.messages.values_list("channel", "template_key")) == [
        ("email", "cart_abandoned"),
        ("sms", "cart_abandoned"),
    ]


def _answer(customer, kind, score, survey=1):
    return ev(customer, "survey_answered", survey=survey, kind=kind, score=score)


def test_survey_answered_by_kind_and_band(acme, alice, bob, carol):
    detractors = make_campaign(acme, "survey_answered", {"kind": "nps", "band": "detractor"})
    promoters = make_campaign(acme, "survey_answered", {"kind": "nps", "band": "promoter"})
    ingest(acme, [_answer(alice, "nps", 3), _answer(bob, "nps", 9), _answer(carol, "csat", 2)])

    assert [c for c, _ in effects(detractors)] == ["alice"]
    assert [c for c, _ in effects(promoters)] == ["bob"]


def test_ticket_unresolved_after_48_hours_notifies_the_team(acme, alice, bob):
    campaign = make_campaign(
        acme, "ticket_unresolved", {"hours": 48}, [("notify_team", {"subject": "Ticket {{ ticket_id }} is stuck"})]
    )
    opened = timezone.now()
    ingest(
        acme,
        [ev(alice, "ticket_opened", ticket_id="T-1", at=opened), ev(bob, "ticket_opened", ticket_id="T-2", at=opened)],
    )
    ingest(acme, [ev(bob, "ticket_resolved", ticket_id="T-2", at=opened + timedelta(hours=5))])

    assert scheduling.release_due_triggers(now=opened + timedelta(hours=49)) == 2

    assert effects(campaign) == [("alice", "ticket:T-1")]
    assert list(TeamNotification.objects.values_list("subject", "customer__external_id")) == [
        ("Ticket T-1 is stuck", "alice")
    ]


def test_referral_converted_and_tier_changed(acme, alice, bob):
    referral = make_campaign(acme, "referral_converted", {})
    gold = make_campaign(acme, "tier_changed", {"to": "Gold"})
    ingest(
        acme,
        [
            ev(alice, "referral_converted", referred_customer="bob"),
            ev(alice, "tier_changed", **{"from": "Silver", "to": "Gold"}),
            ev(bob, "tier_changed", **{"from": "Bronze", "to": "Silver"}),
        ],
    )

    assert [c for c, _ in effects(referral)] == ["alice"]
    assert [c for c, _ in effects(gold)] == ["alice"]


def test_birthday_in_the_customers_time_zone(acme, alice, bob):
    campaign = make_campaign(acme, "date", {"which": "birthday"})
    alice.timezone, alice.birth_date = "Pacific/Auckland", datetime(1990, 3, 15).date()
    bob.timezone, bob.birth_date = "America/New_York", datetime(1985, 3, 15).date()
    alice.save()
    bob.save()

    # 14 March 20:00 UTC: already 15 March in Auckland, still 14 March in New York.
    with time_machine.travel(datetime(2025, 3, 14, 20, 0, tzinfo=UTC), tick=False):
        scheduling.run_scheduled_triggers()
    assert effects(campaign) == [("alice", "birthday:2025")]

    with time_machine.travel(datetime(2025, 3, 15, 14, 0, tzinfo=UTC), tick=False):
        scheduling.run_scheduled_triggers()
    assert effects(campaign) == [("alice", "birthday:2025"), ("bob", "birthday:2025")]


def test_signup_anniversary(acme, alice, bob):
    campaign = make_campaign(acme, "date", {"which": "signup_anniversary"})
    alice.created_at = datetime(2023, 6, 1, 3, 0, tzinfo=UTC)  # 1 June 11:00 in KL
    bob.created_at = datetime(2023, 6, 2, 3, 0, tzinfo=UTC)
    alice.save()
    bob.save()

    with time_machine.travel(datetime(2025, 6, 1, 1, 0, tzinfo=UTC), tick=False):
        scheduling.run_scheduled_triggers()

    assert effects(campaign) == [("alice", "signup_anniversary:2025")]


def test_monthly_schedule_to_a_sample_runs_once_per_month(acme):
    from tests.factories import CustomerFactory

    customers = [CustomerFactory(program=acme) for _ in range(40)]
    campaign = make_campaign(acme, "schedule", {"frequency": "monthly", "day": 1, "sample_percent": 50})

    with time_machine.travel(datetime(2025, 5, 3, 2, 0, tzinfo=UTC), tick=False):
        scheduling.run_scheduled_triggers()
        scheduling.run_scheduled_triggers()
    may = CampaignEffect.objects.filter(campaign=campaign, occurrence="schedule:2025-05").count()
    assert 0 < may < len(customers)
    assert CampaignEffect.objects.filter(campaign=campaign).count() == may

    with time_machine.travel(datetime(2025, 6, 1, 2, 0, tzinfo=UTC), tick=False):
        scheduling.run_scheduled_triggers()
    assert CampaignEffect.objects.filter(campaign=campaign, occurrence="schedule:2025-06").count() > 0
