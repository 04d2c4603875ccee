"""The builder form without JSON: every trigger and action kind reads back from the form as it
was stored, a campaign is built from plain fields, errors show next to their field, and staff
limited to one program can only choose that program's surveys, rewards and templates."""

import pytest
from django.contrib.auth import get_user_model

from engagement.channels.models import MessageTemplate
from engagement.models import ProgramStaff
from rewards.campaigns.lifecycle import to_data
from rewards.campaigns.models import Campaign
from tests.campaigns.admin_forms import form_data
from tests.campaigns.conftest import make_campaign
from tests.factories import ProgramFactory
from tests.rewards.factories import RewardItemFactory, make_tiers
from tests.surveys.factories import make_survey

ADD = "/admin/campaigns/campaign/add/"


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def cast(acme):
    make_tiers(acme)
    return {"survey": make_survey(acme), "item": RewardItemFactory(program=acme, title_en="Tote bag")}


def triggers(cast):
    return {
        "event": {
            "event_type": "purchase",
            "min_value": 100,
            "max_value": 500.5,
            "conditions": [{"field": "properties.channel", "op": "eq", "value": "web"}],
        },
        "nth_event": {"event_type": "purchase", "n": 10, "repeat": True},
        "score_threshold": {"threshold": 80, "direction": "down"},
        "segment_entered": {"segments": ["At risk", "Lost"]},
        "churn_risk": {"above": 0.7},
        "inactivity": {"days": 30},
        "cart_abandoned": {"minutes": 90},
        "survey_answered": {"kind": "nps", "band": "detractor", "survey": cast["survey"].pk},
        "ticket_unresolved": {"hours": 48},
        "referral_converted": {},
        "tier_changed": {"from": "Silver", "to": "Gold"},
        "date": {"which": "signup_anniversary"},
        "schedule": {"frequency": "weekly", "day": 3, "sample_percent": 50},
    }


def actions(cast):
    return [
        {
            "kind": "grant_points",
            "config": {
                "percent": 5,
                "max_points": 500,
                "rounding": "half_up",
                "tier_multiplier": False,
                "reason": "Cb",
            },
        },
        {"kind": "grant_points", "config": {"points": 25}},
        {"kind": "grant_reward", "config": {"item": cast["item"].pk}, "delay_minutes": 7 * 1440},
        {
            "kind": "send_survey",
            "config": {"survey": cast["survey"].pk},
            "delay_minutes": 90,
            "cancel_if_event_type": "refund",
        },
        {
            "kind": "send_message",
            "config": {"template_key": "win_back", "channels": ["email", "push"], "context": {"o": "x"}},
        },
        {"kind": "create_payout", "config": {"amount": 12.5, "method": "gift_card"}},
        {"kind": "create_payout", "config": {"percent": 2}},
        {"kind": "notify_team", "config": {"subject": "Call {{ customer }}", "body": "Soon."}},
        {"kind": "emit_webhook", "config": {"type": "survey.detractor"}},
    ]


def stored(campaign):
    data = to_data(Campaign.objects.get(pk=campaign.pk))
    return {k: data[k] for k in ("trigger", "conditions", "audience", "actions", "limits")}


def resave(client, campaign):
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    response = client.post(url, form_data(client.get(url).content.decode()))
    assert response.status_code == 302, form_errors(response)


def form_errors(response):
    """Every error of a re-shown builder page (for a failing test's message)."""
    form = response.context["adminform"].form
    inline = response.context["inline_admin_formsets"][0].formset
    return (
        form.errors,
        [f.errors for f in form.conditions.forms],
        [f.errors for f in inline.forms],
        inline.non_form_errors(),
    )


@pytest.mark.parametrize(
    "kind",
    [
        "event",
        "nth_event",
        "score_threshold",
        "segment_entered",
        "churn_risk",
        "inactivity",
        "cart_abandoned",
        "survey_answered",
        "ticket_unresolved",
        "referral_converted",
        "tier_changed",
        "date",
        "schedule",
    ],
)
def test_every_trigger_kind_reads_back_from_the_form_unchanged(admin_client, acme, cast, kind):
    campaign = make_campaign(acme, kind, triggers(cast)[kind], status="draft")
    before = stored(campaign)

    resave(admin_client, campaign)

    assert stored(campaign) == before


def test_every_action_kind_audience_conditions_and_limits_read_back_unchanged(admin_client, acme, cast):
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        actions(cast),
        status="draft",
        audience={"kind": "tier", "values": ["Gold"], "attributes": {"vip": True, "city": "Kuala Lumpur"}},
        conditions=[
            {"field": "attributes.city", "op": "in", "value": ["KL", "Penang"]},
            {"field": "consent.email", "op": "eq", "value": True},
            {"field": "purchase_count", "op": "gte", "value": 3},
            {"field": "segment", "op": "ne", "value": "Lost"},
        ],
        limits={"per_customer": 1, "per_customer_period_days": 7, "budget_points": 1000, "budget_money": "50.00"},
    )
    before = stored(campaign)
    action_ids = list(campaign.actions.values_list("pk", flat=True))

    resave(admin_client, campaign)

    assert stored(campaign) == before
    assert list(campaign.actions.values_list("pk", flat=True)) == action_ids


def blank_form(client):
    data = form_data(client.get(ADD).content.decode())
    return {k: v for k, v in data.items() if v not in ("", None)}


def test_a_campaign_is_built_from_plain_fields(admin_client, acme, cast):
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Cashback",
            "trigger_kind": "event",
            "event_type": "purchase",
            "min_value": "100",
            "audience": "all",
            "per_customer_limit": "1",
            "per_customer_period_days": "7",
            "conditions-0-field": "event.properties",
            "conditions-0-key": "channel",
            "conditions-0-op": "in",
            "conditions-0-value": "web, app",
            "conditions-1-field": "engagement_score",
            "conditions-1-op": "gte",
            "conditions-1-value": "40",
            "actions-0-kind": "grant_points",
            "actions-0-percent": "5",
            "actions-0-tier_multiplier": "on",
            "actions-0-delay_0": "",
            "actions-0-delay_1": "minutes",
        }
    )

    response = admin_client.post(ADD, data)

    assert response.status_code == 302, form_errors(response)
    campaign = Campaign.objects.get()
    assert (campaign.status, stored(campaign)) == (
        "draft",
        {
            "trigger": {
                "kind": "event",
                "config": {
                    "event_type": "purchase",
                    "min_value": 100,
                    "conditions": [{"field": "properties.channel", "op": "in", "value": ["web", "app"]}],
                },
            },
            "conditions": [{"field": "engagement_score", "op": "gte", "value": 40}],
            "audience": {"kind": "all", "values": [], "attributes": {}},
            "actions": [
                {"kind": "grant_points", "config": {"percent": 5}, "delay_minutes": 0, "cancel_if_event_type": ""}
            ],
            "limits": {
                "per_customer": 1,
                "per_customer_period_days": 7,
                "budget_points": None,
                "budget_money": None,
                "max_grants": None,
            },
        },
    )


def test_a_delay_in_days_is_stored_in_minutes(admin_client, acme, cast):
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "CSAT a week later",
            "trigger_kind": "event",
            "event_type": "purchase",
            "audience": "all",
            "actions-0-kind": "send_survey",
            "actions-0-survey": cast["survey"].pk,
            "actions-0-delay_0": "7",
            "actions-0-delay_1": "days",
        }
    )
    assert admin_client.post(ADD, data).status_code == 302
    assert list(Campaign.objects.get().actions.values_list("delay_minutes", "config")) == [
        (10080, {"survey": cast["survey"].pk})
    ]


def errors_next_to(html, field):
    """The error list rendered in the form row of `field`."""
    start = html.index(f"field-{field}")
    row = html[start : html.index("</div>\n", html.index(f'name="{field}"', start))]
    return row


def test_errors_show_next_to_their_field_and_nothing_is_stored(admin_client, acme, cast):
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Broken",
            "trigger_kind": "nth_event",
            "event_type": "purchase",
            "audience": "tier",
            "conditions-0-field": "attributes",
            "conditions-0-key": "",
            "conditions-0-op": "eq",
            "conditions-0-value": "x",
            "conditions-1-field": "purchase_count",
            "conditions-1-op": "gt",
            "conditions-1-value": "lots",
            "actions-0-kind": "grant_points",
            "actions-0-points": "5",
            "actions-0-percent": "5",
        }
    )

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    page = response.content.decode()
    form = response.context["adminform"].form
    assert form.errors == {
        "nth": ["Which occurrence (N) must be a whole number from 1 to 1000000."],
        "audience_tiers": ["Tiers: give at least one for this audience."],
        "__all__": ["Check the conditions below."],
    }
    assert [f.errors for f in form.conditions.forms[:2]] == [
        {"key": ["Name the attribute or property."]},
        {"value": ["Value must be a number."]},
    ]
    action_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert action_form.errors == {"points": ["Give either Points or Percent of the event's value."]}
    assert "Which occurrence (N) must be a whole number from 1 to 1000000." in errors_next_to(page, "nth")
    assert Campaign.objects.count() == 0


def limits_without_a_count(client, acme):
    """A builder post whose period ("Within (days)") lacks its count ("Times per customer")."""
    data = blank_form(client)
    data.update(
        {
            "program": acme.pk,
            "name": "Weekly",
            "trigger_kind": "event",
            "event_type": "purchase",
            "per_customer_period_days": "7",
            "actions-0-kind": "grant_points",
            "actions-0-points": "5",
        }
    )
    return data


def test_a_builder_message_names_the_fields_label_not_its_config_key(admin_client, acme, cast):
    response = admin_client.post(ADD, limits_without_a_count(admin_client, acme))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "per_customer_period_days": ["Within (days) needs Times per customer."]
    }
    assert "Within (days) needs Times per customer." in errors_next_to(
        response.content.decode(), "per_customer_period_days"
    )
    assert Campaign.objects.count() == 0


def test_the_api_names_the_same_problem_by_its_key(acme_api):
    body = {
        "name": "Weekly",
        "trigger": {"kind": "event", "config": {"event_type": "purchase"}},
        "limits": {"per_customer_period_days": 7},
        "actions": [{"kind": "grant_points", "config": {"points": 5}}],
    }

    response = acme_api.post("/api/v1/campaigns", body, format="json")

    assert response.status_code == 400
    assert [(e["attr"], e["detail"]) for e in response.json()["errors"]] == [
        ("limits.per_customer_period_days", "per_customer_period_days needs per_customer.")
    ]
    assert Campaign.objects.count() == 0


def test_with_the_admin_in_arabic_builder_messages_are_arabic(admin_client, acme, cast):
    admin_client.cookies["django_language"] = "ar"
    data = limits_without_a_count(admin_client, acme)
    data.update({"actions-0-points": "5", "actions-0-percent": "5"})

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "per_customer_period_days": ["خلال (أيام) يتطلب مرات لكل عميل."]
    }
    action_form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert action_form.errors == {"points": ["أعطِ إما النقاط أو نسبة من قيمة الحدث."]}
    assert Campaign.objects.count() == 0


def test_an_event_condition_needs_the_event_trigger(admin_client, acme, cast):
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Wrong scope",
            "trigger_kind": "inactivity",
            "inactive_for_0": "30",
            "inactive_for_1": "days",
            "audience": "all",
            "conditions-0-field": "event.value",
            "conditions-0-op": "gte",
            "conditions-0-value": "10",
            "actions-0-kind": "grant_points",
            "actions-0-points": "5",
        }
    )
    response = admin_client.post(ADD, data)
    assert response.context["adminform"].form.conditions.forms[0].errors == {
        "field": ["Event conditions apply to the trigger “event of a type” only."]
    }
    assert Campaign.objects.count() == 0


def test_a_duration_not_in_whole_units_of_the_trigger_is_refused(admin_client, acme, cast):
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Ticket",
            "trigger_kind": "ticket_unresolved",
            "ticket_wait_0": "90",
            "ticket_wait_1": "minutes",
            "audience": "all",
            "actions-0-kind": "notify_team",
            "actions-0-subject": "Chase it",
        }
    )
    response = admin_client.post(ADD, data)
    assert response.context["adminform"].form.errors["ticket_wait"] == ["Give a whole number of hours."]
    assert Campaign.objects.count() == 0


@pytest.fixture
def siti(acme, client):
    """Staff limited to acme, with every campaign permission."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("siti", "siti@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="campaigns"))
    ProgramStaff.objects.create(program=acme, user=user)
    client.force_login(user)
    return client


def test_limited_staff_choose_only_their_programs_surveys_rewards_and_templates(siti, acme, cast):
    beta = ProgramFactory(name="Beta Tea Club", slug="beta")
    beta_survey = make_survey(beta, name="Beta NPS")
    beta_item = RewardItemFactory(program=beta, title_en="Beta mug")
    MessageTemplate.objects.create(program=beta, key="beta_secret", channel="email", locale="en", body="x")
    MessageTemplate.objects.create(program=acme, key="acme_hello", channel="email", locale="en", body="x")

    page = siti.get(ADD)
    form = page.context["inline_admin_formsets"][0].formset.empty_form
    survey_choices = [label for _, label in form.fields["survey"].choices]
    assert survey_choices == ["---------", str(cast["survey"])]
    assert [label for _, label in form.fields["item"].choices] == ["---------", "Tote bag"]
    templates = [key for key, _ in form.fields["template_key"].choices]
    assert "acme_hello" in templates and "beta_secret" not in templates
    html = page.content.decode()
    assert "Beta NPS" not in html and "Beta mug" not in html and "beta_secret" not in html

    data = blank_form(siti)
    data.update(
        {
            "program": acme.pk,
            "name": "Sneaky",
            "trigger_kind": "event",
            "event_type": "purchase",
            "audience": "all",
            "actions-TOTAL_FORMS": "2",
            "actions-0-kind": "send_survey",
            "actions-0-survey": beta_survey.pk,
            "actions-1-kind": "grant_reward",
            "actions-1-item": beta_item.pk,
        }
    )
    response = siti.post(ADD, data)

    rows = response.context["inline_admin_formsets"][0].formset.forms
    assert [list(row.errors) for row in rows] == [["survey"], ["item"]]
    assert Campaign.objects.count() == 0


def test_a_superuser_cannot_point_a_campaign_at_another_programs_survey(admin_client, acme, cast):
    beta = ProgramFactory(name="Beta Tea Club", slug="beta")
    beta_survey = make_survey(beta, name="Beta NPS")
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Crossed",
            "trigger_kind": "event",
            "event_type": "purchase",
            "audience": "all",
            "actions-0-kind": "send_survey",
            "actions-0-survey": beta_survey.pk,
        }
    )
    response = admin_client.post(ADD, data)
    rows = response.context["inline_admin_formsets"][0].formset.forms
    # The campaign's program is known before the rows are built: only its surveys are choices.
    assert rows[0].errors == {
        "survey": [f"Select a valid choice. {beta_survey.pk} is not one of the available choices."]
    }
    assert Campaign.objects.count() == 0


def test_the_trigger_cannot_name_another_programs_survey(admin_client, acme, cast):
    beta_survey = make_survey(ProgramFactory(name="Beta Tea Club", slug="beta"), name="Beta NPS")
    data = blank_form(admin_client)
    data.update(
        {
            "program": acme.pk,
            "name": "Crossed trigger",
            "trigger_kind": "survey_answered",
            "answered_survey": beta_survey.pk,
            "audience": "all",
            "actions-0-kind": "grant_points",
            "actions-0-points": "5",
        }
    )
    response = admin_client.post(ADD, data)
    assert response.context["adminform"].form.errors == {"answered_survey": ["This belongs to another program."]}
    assert Campaign.objects.count() == 0
