"""Each action kind, each condition kind, delays and cancellation."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from engagement.models import CustomerScore
from engagement.webhooks.models import WebhookEvent
from payouts.models import Payout
from rewards.campaigns import scheduling
from rewards.campaigns.actions import points_for
from rewards.campaigns.models import ActionRun, CampaignEffect, TeamNotification
from rewards.models import CustomerTier, Redemption
from surveys.models import Invitation, Survey
from tests.campaigns.conftest import ago, balance, ev, ingest, make_campaign
from tests.rewards.factories import RewardItemFactory, make_tiers
from tests.surveys.factories import make_survey


def purchase(customer, value="100.00", **kw):
    return ev(customer, "purchase", value=value, order_id=f"o-{customer.external_id}-{value}", **kw)


@pytest.mark.parametrize(
    "config,value,multiplier,expected",
    [
        ({"points": 50}, None, Decimal("1"), 50),
        ({"points": 50}, None, Decimal("1.5"), 75),
        ({"points": 50, "tier_multiplier": False}, None, Decimal("1.5"), 50),
        ({"percent": "10"}, Decimal("99.99"), Decimal("1"), 9),  # 9.999 rounds down
        ({"percent": "10", "rounding": "half_up"}, Decimal("99.99"), Decimal("1"), 10),
        ({"percent": "10", "rounding": "up"}, Decimal("90.01"), Decimal("1"), 10),
        ({"percent": "5"}, Decimal("100.00"), Decimal("1.25"), 6),  # 6.25 -> 6: rounded once, at the end
        ({"percent": "50", "max_points": 20}, Decimal("100"), Decimal("1"), 20),
    ],
)
def test_points_formula(config, value, multiplier, expected):
    assert points_for(config, value, multiplier) == expected


def test_grant_points_percent_of_value_times_tier_multiplier(acme, alice, bob):
    tiers = make_tiers(acme)
    silver = next(t for t in tiers if t.name == "Silver")  # x1.25
    CustomerTier.objects.create(program=acme, customer=alice, tier=silver)
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"percent": "10"})])

    ingest(acme, [purchase(alice, "100.00"), purchase(bob, "100.00")])

    assert (balance(alice), balance(bob)) == (12, 10)  # 10 x 1.25 = 12.5 -> 12


def test_grant_reward(acme, alice):
    item = RewardItemFactory(program=acme, cash_value=Decimal("5.00"))
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_reward", {"item": item.pk})])

    ingest(acme, [purchase(alice)])

    redemption = Redemption.objects.get(customer=alice)
    assert (redemption.item_id, redemption.points) == (item.pk, 0)
    assert list(ActionRun.objects.filter(campaign=campaign).values_list("status", "money")) == [
        ("done", Decimal("5.00"))
    ]


def test_send_survey(acme, alice):
    csat = make_survey(acme, Survey.Kind.CSAT)
    make_campaign(acme, "event", {"event_type": "purchase"}, [("send_survey", {"survey": csat.pk})])

    ingest(acme, [purchase(alice)])

    assert list(Invitation.objects.values_list("survey_id", "customer__external_id", "source")) == [
        (csat.pk, "alice", "campaign")
    ]


def test_create_payout(acme, alice):
    make_campaign(acme, "event", {"event_type": "purchase"}, [("create_payout", {"percent": "5", "method": "voucher"})])

    ingest(acme, [purchase(alice, "80.00")])

    payout = Payout.objects.get(customer=alice)
    assert (payout.amount, payout.currency, payout.method, payout.source) == (
        Decimal("4.00"),
        "MYR",
        "voucher",
        "campaign",
    )


def test_notify_team_and_emit_webhook(acme, alice):
    make_campaign(
        acme,
        "survey_answered",
        {"kind": "nps", "band": "detractor"},
        [
            ("notify_team", {"subject": "Call {{ customer_name }} back (NPS {{ score }})"}),
            ("emit_webhook", {"type": "survey.detractor"}),
        ],
    )

    ingest(acme, [ev(alice, "survey_answered", survey=1, kind="nps", score=2)])

    assert list(TeamNotification.objects.values_list("subject", flat=True)) == ["Call Alice back (NPS 2)"]
    event = WebhookEvent.objects.get(type="survey.detractor")
    assert (event.payload["customer"], event.payload["context"]["score"]) == ("alice", 2)


def test_failing_action_is_recorded_and_does_not_block_the_batch(acme, alice):
    csat = make_survey(acme, Survey.Kind.CSAT)
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [("send_survey", {"survey": csat.pk}), ("grant_points", {"points": 7})],
    )
    csat.delete()  # the survey disappears after the campaign was set up

    ingest(acme, [purchase(alice)])

    runs = dict(ActionRun.objects.filter(campaign=campaign).values_list("kind", "status"))
    assert runs == {"send_survey": "failed", "grant_points": "done"}
    assert balance(alice) == 7


def test_delayed_csat_survey_seven_days_after_purchase(acme, alice, bob):
    csat = make_survey(acme, Survey.Kind.CSAT)
    make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [{"kind": "send_survey", "config": {"survey": csat.pk}, "delay_minutes": 7 * 24 * 60}],
    )
    bought = timezone.now()
    ingest(acme, [purchase(alice, at=bought), purchase(bob, at=bought)])
    assert Invitation.objects.count() == 0
    bob.erased_at = bought  # bob no longer matches (erased) when it is due
    bob.save()

    with time_machine.travel(bought + timedelta(days=6, hours=23), tick=False):
        assert scheduling.release_due_actions() == 0
    with time_machine.travel(bought + timedelta(days=7, minutes=1), tick=False):
        assert scheduling.release_due_actions() == 2
        assert scheduling.release_due_actions() == 0

    assert list(Invitation.objects.values_list("customer__external_id", flat=True)) == ["alice"]
    assert sorted(ActionRun.objects.values_list("customer__external_id", "status", "detail")) == [
        ("alice", "done", f"survey {csat.pk}"),
        ("bob", "cancelled", "conditions no longer hold"),
    ]


def test_delayed_action_cancelled_by_an_event_since_the_trigger(acme, alice):
    make_campaign(
        acme,
        "inactivity",
        {"days": 30},
        [{"kind": "grant_points", "config": {"points": 100}, "delay_minutes": 60, "cancel_if_event_type": "purchase"}],
    )
    ingest(acme, [ev(alice, "cart_updated", at=ago(days=40))])
    scheduling.run_scheduled_triggers()
    ingest(acme, [purchase(alice)])  # came back on their own

    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        scheduling.release_due_actions()

    assert list(ActionRun.objects.values_list("status", "detail")) == [("cancelled", "purchase since the trigger")]
    assert balance(alice) == 0


# --- conditions ------------------------------------------------------------------------------


def _qualified(campaign):
    return sorted(CampaignEffect.objects.filter(campaign=campaign).values_list("customer__external_id", flat=True))


@pytest.mark.parametrize(
    "condition,expected",
    [
        ({"field": "attributes.city", "op": "eq", "value": "Penang"}, ["alice"]),
        ({"field": "attributes.age", "op": "gte", "value": 30}, ["bob"]),
        ({"field": "consent.sms", "op": "eq", "value": True}, ["bob"]),
        ({"field": "consent.sms", "op": "eq", "value": False}, ["alice", "carol"]),
        ({"field": "locale", "op": "eq", "value": "en"}, ["alice", "carol"]),  # carol: program default
        ({"field": "locale", "op": "in", "value": ["ar", "ms"]}, ["bob"]),
        ({"field": "tier", "op": "eq", "value": "Gold"}, ["carol"]),
        ({"field": "segment", "op": "eq", "value": "Champions"}, ["alice"]),
        ({"field": "segment", "op": "ne", "value": "Champions"}, ["bob", "carol"]),  # no score: Others
        ({"field": "engagement_score", "op": "gt", "value": 50}, ["alice"]),
    ],
)
def test_customer_conditions(acme, alice, bob, carol, condition, expected):
    alice.attributes, alice.locale = {"city": "Penang", "age": 25}, "en"
    bob.attributes, bob.locale, bob.consent_sms = {"city": "Ipoh", "age": 41}, "ms", True
    carol.tier = "Gold"
    for customer in (alice, bob, carol):
        customer.save()
    now = timezone.now()
    CustomerScore.objects.create(
        customer=alice, program=acme, segment="Champions", engagement_score=Decimal("91"), scored_at=now
    )
    CustomerScore.objects.create(customer=bob, program=acme, segment="At risk", engagement_score=12, scored_at=now)
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, conditions=[condition])

    ingest(acme, [purchase(alice), purchase(bob), purchase(carol)])

    assert _qualified(campaign) == expected


@pytest.mark.parametrize(
    "audience,expected",
    [
        ({"kind": "all"}, ["alice", "bob", "carol"]),
        ({"kind": "tier", "values": ["Gold"]}, ["bob"]),
        ({"kind": "segment", "values": ["vip"]}, ["alice"]),
        ({"kind": "rfm_segment", "values": ["Lost"]}, ["carol"]),
        ({"kind": "all", "attributes": {"city": "Ipoh"}}, ["carol"]),
    ],
)
def test_audiences(acme, alice, bob, carol, audience, expected):
    alice.attributes = {"segment": "vip"}
    bob.tier = "Gold"
    carol.attributes = {"city": "Ipoh"}
    for customer in (alice, bob, carol):
        customer.save()
    CustomerScore.objects.create(customer=carol, program=acme, segment="Lost", scored_at=timezone.now())
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, audience=audience)

    ingest(acme, [purchase(alice), purchase(bob), purchase(carol)])

    assert _qualified(campaign) == expected


def test_team_notification_text_is_not_html_escaped(acme):
    from tests.factories import CustomerFactory

    siti = CustomerFactory(program=acme, external_id="siti", name="Siti O'Brien & <Co>")
    make_campaign(
        acme,
        "survey_answered",
        {"kind": "nps", "band": "detractor"},
        [("notify_team", {"subject": "Call {{ customer_name }} back", "body": "{{ customer_name }} said {{ score }}"})],
    )

    ingest(acme, [ev(siti, "survey_answered", survey=1, kind="nps", score=2)])

    assert list(TeamNotification.objects.values_list("subject", "body")) == [
        ("Call Siti O'Brien & <Co> back", "Siti O'Brien & <Co> said 2")
    ]
