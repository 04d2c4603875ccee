"""The sentence that says what a campaign does: built from the stored rule, money with the
program's currency, translated."""

from django.utils import translation

from rewards.campaigns.sentence import describe, duration
from tests.campaigns.conftest import make_campaign
from tests.surveys.factories import make_survey


def test_the_cashback_sentence(acme):
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase", "min_value": 100},
        [("grant_points", {"percent": 5})],
        limits={"per_customer": 1, "per_customer_period_days": 7},
    )
    with translation.override("en"):
        assert describe(campaign) == (
            "When a purchase of RM100.00 or more happens, grant 5 % back in points; at most once per customer per week."
        )


def test_a_delayed_survey_for_a_tier_with_a_budget(acme):
    survey = make_survey(acme, name="After purchase")
    campaign = make_campaign(
        acme,
        "cart_abandoned",
        {"minutes": 120},
        [
            {"kind": "send_survey", "config": {"survey": survey.pk}, "delay_minutes": 7 * 1440},
            ("create_payout", {"amount": "1234.5", "method": "gift_card"}),
        ],
        audience={"kind": "tier", "values": ["Gold"], "attributes": {}},
        limits={"budget_money": "5000.00", "max_grants": 300},
    )
    with translation.override("en"):
        assert describe(campaign) == (
            "When a cart is abandoned and no purchase follows within 2 hours, for customers in tier Gold, "
            f"send the survey “{survey}” 7 days later, then pay out RM1,234.50 as a gift card; "
            "a budget of RM5,000.00, 300 grants in all."
        )


def test_durations_use_the_largest_whole_unit():
    with translation.override("en"):
        assert [duration(m) for m in (1, 15, 60, 90, 1440, 10080)] == [
            "1 minute",
            "15 minutes",
            "1 hour",
            "90 minutes",
            "1 day",
            "7 days",
        ]


def test_in_arabic_the_event_type_is_named_in_arabic(acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 10})])
    with translation.override("ar"):
        sentence = describe(campaign)
    assert "شراء" in sentence
    assert "purchase" not in sentence


def test_the_builder_offers_event_types_by_their_translated_names():
    from rewards.campaigns.builder import event_type_choices

    with translation.override("ms"):
        choices = dict(event_type_choices("custom.loyalty_quiz"))
    assert choices["purchase"] == "pembelian"
    assert choices["page_view"] == "paparan halaman"
    assert choices["custom.loyalty_quiz"] == "loyalty quiz"
