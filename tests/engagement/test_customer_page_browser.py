"""The customer's admin page in Chromium (Playwright) at 1366x900 and 390x844: adjust points
through the page's form and see the new balance; axe-core finds no serious or critical
violation. SCREENSHOT_DIR=dir keeps screenshots for a look."""

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from engagement.models import ProgramStaff
from tests.accessibility import assert_accessible
from tests.engagement.test_customer_page import balance, give_history, page_url
from tests.factories import CustomerFactory

# --- in the browser ------------------------------------------------------------------------

SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look


def shoot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def admin_sign_in(page, base, username, password):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


@pytest.mark.browser
def test_adjust_points_in_the_browser_and_see_the_new_balance(transactional_db, live_server, browser_page, acme):
    alice = CustomerFactory(program=acme, external_id="alice", name="Alice", email="alice@example.com")
    give_history(alice)
    staff = get_user_model().objects.create_user("siti", "siti@acme.example", "pw-Siti-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.all())
    ProgramStaff.objects.create(program=acme, user=staff)
    page = browser_page(viewport={"width": 1366, "height": 900})
    admin_sign_in(page, live_server.url, "siti", "pw-Siti-123")

    page.goto(f"{live_server.url}{page_url(alice)}")
    assert page.inner_text("[data-testid=balance]") == "1,220 points"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert_accessible(page)
    shoot(page, "customer-1366")
    page.fill("#cp-points", "80")
    page.fill("#cp-reason", "Goodwill: late delivery")
    page.click(".cp-adjust input[type=submit]")
    page.wait_for_selector("text=the balance is now 1300")

    assert page.inner_text("[data-testid=balance]") == "1,300 points"
    assert "Goodwill: late delivery" in page.inner_text("#cp-ledger")
    assert_accessible(page)
    assert balance(alice) == 1300

    phone = browser_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    admin_sign_in(phone, live_server.url, "siti", "pw-Siti-123")
    phone.goto(f"{live_server.url}{page_url(alice)}")
    # The overview fits the phone (wide tables scroll inside their own region).
    assert phone.evaluate("document.getElementById('customer-overview').scrollWidth") <= 390
    assert_accessible(phone)
    shoot(phone, "customer-390")


NO_SIDEWAYS_SCROLL = """() => {
    const wide = [...document.querySelectorAll('.cp-scroll, .cp-table')]
        .filter(el => el.scrollWidth > el.clientWidth + 1)
        .map(el => el.getAttribute('aria-label') || el.className);
    return {page: document.documentElement.scrollWidth, wide: wide};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_customer_pages_tables_stack_on_a_phone(
    transactional_db, live_server, browser_page, settings, acme, language
):
    settings.ADMIN_OTP = "off"  # the demo's setting: a superuser signs in with a password
    alice = CustomerFactory(program=acme, external_id="alice", name="Alice", email="alice@example.com")
    give_history(alice)
    get_user_model().objects.create_superuser("root", "root@example.com", "root-Pass-123")
    phone = browser_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale=language)
    admin_sign_in(phone, live_server.url, "root", "root-Pass-123")

    phone.goto(f"{live_server.url}{page_url(alice)}")

    assert phone.evaluate("document.documentElement.lang") == language
    assert phone.locator("#cp-ledger .cp-stack tbody tr").count() >= 2  # the history has rows to stack
    assert phone.evaluate(NO_SIDEWAYS_SCROLL) == {"page": 390, "wide": []}
    # Each stacked cell says which column it is
    assert phone.locator("#cp-ledger .cp-stack td[data-label]").first.evaluate(
        "el => getComputedStyle(el, '::before').content"
    ) == ('"Date"' if language == "en" else '"التاريخ"')
    shoot(phone, f"customer-stacked-390-{language}")
