"""The wiring between apps: event handlers run in the order engagement.hooks documents."""

from decimal import Decimal

import pytest

from engagement import hooks, scoring
from engagement.channels import consent
from rewards import earning
from rewards.campaigns import engine
from rewards.models import PointsAccount, RewardsSettings
from tests.campaigns.conftest import balance, ev, ingest, make_campaign
from tests.rewards.factories import make_tiers


def test_event_handlers_run_in_the_documented_order():
    assert hooks.EVENT_HANDLER_ORDER == ("scores", "consent", "earning", "campaigns")
    assert hooks.event_handlers() == [
        ("scores", scoring.queue_customers_for_events),
        ("consent", consent.handle_events),
        ("earning", earning.handle_events),
        ("campaigns", engine.handle_events),
    ]


def test_an_unknown_event_handler_slot_is_refused():
    with pytest.raises(ValueError, match="Unknown event handler slot 'surveys'"):
        hooks.register_event_handler("surveys", print)
    assert [name for name, _handler in hooks.event_handlers()] == ["scores", "consent", "earning", "campaigns"]


def test_a_campaign_grant_sees_the_tier_reached_by_the_same_batch(acme, alice):
    # Given Silver (x1.25) at 500 points and a campaign granting 100 points per purchase,
    RewardsSettings.objects.create(program=acme, return_window_days=0)
    make_tiers(acme)
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 100})])

    # when alice's first purchase earns 600 base points,
    ingest(acme, [ev(alice, "purchase", value=Decimal("600.00"), order_id="o-1")])

    # then earning made her Silver before the campaign computed its grant: 100 x 1.25.
    alice.refresh_from_db()
    assert alice.tier == "Silver"
    assert balance(alice) == 125  # campaign points only (100 had campaigns run first)
    assert PointsAccount.objects.get(customer=alice).balance == 725
