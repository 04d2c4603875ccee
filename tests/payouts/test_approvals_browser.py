"""Four eyes in the browser (Chromium through Playwright): two staff users of acme approve a
payout through the admin, one at a desk (1366 px) from the review queue, one on a phone
(390 px) from the payout's page; a third payout is rejected with a reason. axe-core checks
the queue, the payout page and the reject form; the queue fits both widths."""

import os
from decimal import Decimal
from pathlib import Path

import pytest

from payouts import services
from payouts.models import Payout, Status
from tests.accessibility import assert_accessible
from tests.payouts.factories import make_approver, make_payout

DESK = {"viewport": {"width": 1366, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PASSWORD = "pw-Approve-123"
QUEUE = "/admin/payouts/payoutreview/"
SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look


def shoot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def sign_in(page, base, username, next_url):
    page.goto(f"{base}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}{next_url}")


WIDER = """(width) => [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5)
    .map(el => el.tagName + '.' + el.className + '#' + el.id).slice(0, 8)"""


def fits(page, width):
    """No sideways scrolling of the page, and every queue cell inside the viewport."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.evaluate(WIDER, width)
    right = page.evaluate(
        "Math.max(...[...document.querySelectorAll('#result_list th, #result_list td')]"
        ".map(cell => cell.getBoundingClientRect().right))"
    )
    assert right <= width


@pytest.fixture
def acme_four_eyes(funded_acme):
    settings = services.get_settings(funded_acme)
    settings.approval_threshold = Decimal("100.00")
    settings.four_eyes = True
    settings.save()
    return funded_acme


@pytest.mark.django_db(transaction=True)
def test_two_staff_users_approve_a_payout_and_one_rejects_another(live_server, browser_page, acme_four_eyes, alice):
    make_approver(acme_four_eyes, "aminah", password=PASSWORD)
    make_approver(acme_four_eyes, "farid", password=PASSWORD)
    approved = make_payout(alice, amount="750.00", method="bank_transfer")
    rejected = make_payout(alice, amount="300.00")
    make_payout(alice, amount="420.00", method="paypal")
    base = live_server.url

    # Aminah, at her desk, opens the queue: every column fits 1366 px
    desk = browser_page(**DESK)
    sign_in(desk, base, "aminah", QUEUE)
    assert desk.locator("#result_list tbody tr").count() == 3
    fits(desk, 1366)
    row = desk.locator("#result_list tbody tr", has_text=approved.reference[:12])
    assert row.locator("td.field-approvals").inner_text() == "0 of 2 approvals"
    assert "Above the approval threshold" in row.locator("td.field-why_held").inner_text()
    shoot(desk, "queue-1366")
    assert_accessible(desk)

    # She approves the 750.00 MYR payout from its row: one of two approvals
    row.locator(".approve-button").click()
    desk.wait_for_url(f"{base}{QUEUE}")
    assert desk.locator(".messagelist").inner_text() == (
        f"Payout {approved.reference}: 1 of 2 approvals — another staff user must approve."
    )
    row = desk.locator("#result_list tbody tr", has_text=approved.reference[:12])
    assert row.locator("td.field-approvals").inner_text() == "1 of 2 approvals"
    assert row.locator("td.field-decide").inner_text() == "You approved; another staff user must."
    assert Payout.objects.get(pk=approved.pk).status == Status.PENDING_APPROVAL

    # Its page says who approved and offers her no second approval
    row.locator("td.field-short_reference a, th.field-short_reference a").click()
    assert desk.inner_text("[data-testid=approvals-progress]") == "1 of 2 approvals — another staff user must approve."
    assert desk.inner_text("[data-testid=why-not]") == "You approved this payout; another staff user must approve it."
    assert desk.locator("[data-testid=approve]").count() == 0
    shoot(desk, "payout-1366")
    assert_accessible(desk)

    # Farid, on his phone: the queue is a list of cards, nothing wider than the screen
    phone = browser_page(**PHONE)
    sign_in(phone, base, "farid", QUEUE)
    fits(phone, 390)
    shoot(phone, "queue-390")
    assert_accessible(phone)

    # He opens the payout and approves it: released for payment
    phone.goto(f"{base}/admin/payouts/payoutreview/{approved.pk}/change/")
    shoot(phone, "payout-390")
    fits(phone, 390)
    assert_accessible(phone)
    phone.locator("[data-testid=approve]").tap()
    phone.wait_for_url(f"{base}{QUEUE}")
    assert phone.locator(".messagelist").inner_text() == (
        f"Payout {approved.reference} approved (2 of 2): released for payment."
    )
    assert Payout.objects.get(pk=approved.pk).status == Status.QUEUED
    assert phone.locator("#result_list tbody tr").count() == 2

    # He rejects the 300.00 MYR payout: first without a reason (refused), then with one
    phone.locator("#result_list tbody tr", has_text=rejected.reference[:12]).locator(".reject-link").tap()
    phone.locator("[data-testid=reject]").tap()
    assert phone.inner_text("#reason-errors") == "Give a reason for rejecting this payout."
    assert Payout.objects.get(pk=rejected.pk).status == Status.PENDING_APPROVAL
    shoot(phone, "reject-390")
    fits(phone, 390)
    assert_accessible(phone)
    phone.fill("#id_reason", "Same claim paid last week")
    phone.locator("[data-testid=reject]").tap()
    phone.wait_for_url(f"{base}{QUEUE}")
    assert phone.locator(".messagelist").inner_text() == (
        f"Payout {rejected.reference} rejected and cancelled: Same claim paid last week"
    )
    rejected.refresh_from_db()
    assert (rejected.status, rejected.status_reason) == (Status.CANCELLED, "Rejected: Same claim paid last week")
    assert phone.locator("#result_list tbody tr").count() == 1
