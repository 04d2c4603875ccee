"""The campaign builder in a real browser: a staff member logs in, builds a cashback campaign
with the form (no JSON typed), saves and activates it; a purchase through ingest and
processing then grants the points. axe-core finds no serious or critical violation on the
builder, at 1366 px and on a 390 px phone."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from rewards.campaigns.models import Campaign
from tests.accessibility import assert_accessible
from tests.campaigns.conftest import balance, ev, ingest

DESKTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look


def shoot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def log_in(page, base, next_path):
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-Pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


def visible(page, selector):
    return page.is_visible(selector)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_build_save_activate_and_grant_through_the_form(live_server, browser_page, settings, acme, alice):
    settings.ADMIN_OTP = "off"  # the demo's setting: a password is enough
    get_user_model().objects.create_superuser("root", "root@example.com", "root-Pass-123")
    page = browser_page(**DESKTOP)
    log_in(page, live_server.url, "/admin/campaigns/campaign/add/")

    # Only the chosen trigger's settings show
    page.select_option("#id_trigger_kind", "event")
    assert (visible(page, "#id_event_type"), visible(page, "#id_min_value"), visible(page, "#id_nth")) == (
        True,
        True,
        False,
    )
    page.select_option("#id_trigger_kind", "cart_abandoned")
    assert (visible(page, "#id_event_type"), visible(page, "#id_cart_wait_0")) == (False, True)

    # Build "5 % back on purchases of RM100 or more, once a week per customer"
    page.select_option("#id_program", str(acme.pk))
    page.fill("#id_name", "Cashback")
    page.select_option("#id_trigger_kind", "event")
    page.select_option("#id_event_type", "purchase")
    page.fill("#id_min_value", "100")
    page.fill("#id_per_customer_limit", "1")
    page.fill("#id_per_customer_period_days", "7")
    page.select_option("#id_actions-0-kind", "grant_points")
    assert (visible(page, "#id_actions-0-percent"), visible(page, "#id_actions-0-survey")) == (True, False)
    page.fill("#id_actions-0-percent", "5")
    shoot(page, "builder-add-1366")
    assert_accessible(page)
    page.click("input[name=_continue]")

    # Saved as a draft; the sentence says what it does; then activated
    sentence = page.text_content("[data-testid=campaign-sentence]")
    assert " ".join(sentence.split()) == (
        "What it does: When a purchase of RM100.00 or more happens, grant 5 % back in points; "
        "at most once per customer per week."
    )
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.trigger_config, list(campaign.actions.values_list("config", flat=True))) == (
        "draft",
        {"event_type": "purchase", "min_value": 100},
        [{"percent": 5}],
    )
    shoot(page, "builder-change-1366")
    assert_accessible(page)
    page.click("[data-testid=activate]")
    page.wait_for_selector("[data-testid=pause]")
    assert Campaign.objects.get().status == "active"

    # A purchase of RM240 through ingest and processing grants 5 %: 12 points
    ingest(acme, [ev(alice, "purchase", value="240.00", order_id="o-1")])
    assert balance(alice) == 12
    page.reload()
    assert "<th>points</th><td>12</td>" in page.inner_html(".field-stats_table")

    # The list names what each campaign does
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    assert "grant 5 % back in points" in page.text_content("#result_list")
    shoot(page, "builder-list-1366")

    # On a phone: the builder fits and stays accessible
    phone = browser_page(**PHONE)
    log_in(phone, live_server.url, f"/admin/campaigns/campaign/{campaign.pk}/change/")
    shoot(phone, "builder-change-390")
    assert_accessible(phone)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_condition_and_action_rows_are_added_and_removed_before_one_save(live_server, browser_page, settings, acme):
    settings.ADMIN_OTP = "off"
    get_user_model().objects.create_superuser("root", "root@example.com", "root-Pass-123")
    page = browser_page(**DESKTOP)
    log_in(page, live_server.url, "/admin/campaigns/campaign/add/")
    page.select_option("#id_program", str(acme.pk))
    page.fill("#id_name", "Regulars")
    page.select_option("#id_trigger_kind", "event")
    page.select_option("#id_event_type", "purchase")

    # Given the two empty rows the page starts with, add three more: rows 2, 3 and 4
    for _ in range(3):
        page.click("[data-testid=add-condition]")
    assert page.input_value("#id_conditions-TOTAL_FORMS") == "5"
    page.select_option("#id_conditions-2-field", "purchase_count")
    page.select_option("#id_conditions-2-op", "gte")
    page.fill("#id_conditions-2-value", "3")
    page.select_option("#id_conditions-3-field", "tier")
    page.fill("#id_conditions-3-value", "Gold")
    page.select_option("#id_conditions-4-field", "locale")
    page.fill("#id_conditions-4-value", "ms")
    # ... and remove the last one again: it is hidden and not stored
    page.click("#id_conditions-4-DELETE >> xpath=.. >> .condition-remove")
    assert page.is_visible("#id_conditions-4-field") is False

    # A second action, added with the admin's "Add another" link
    page.select_option("#id_actions-0-kind", "grant_points")
    page.fill("#id_actions-0-points", "50")
    page.click("#actions-group .add-row a")
    page.select_option("#id_actions-1-kind", "notify_team")
    page.fill("#id_actions-1-subject", "A regular bought again")
    shoot(page, "builder-rows-1366")
    assert_accessible(page)
    page.click("input[name=_continue]")

    # One save stored both conditions and both actions
    page.wait_for_selector("[data-testid=campaign-sentence]")
    campaign = Campaign.objects.get()
    assert campaign.conditions == [
        {"field": "purchase_count", "op": "gte", "value": 3},
        {"field": "tier", "op": "eq", "value": "Gold"},
    ]
    assert list(campaign.actions.order_by("position", "pk").values_list("kind", "config")) == [
        ("grant_points", {"points": 50}),
        ("notify_team", {"subject": "A regular bought again"}),
    ]

    phone = browser_page(**PHONE)
    log_in(phone, live_server.url, f"/admin/campaigns/campaign/{campaign.pk}/change/")
    phone.click("[data-testid=add-condition]")
    shoot(phone, "builder-rows-390")
    assert_accessible(phone)
