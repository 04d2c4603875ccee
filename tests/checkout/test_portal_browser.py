"""The checkout's part of the portal in a browser (Playwright, Debian's Chromium): points held
for an order and an order paid with points, on home and history, on a phone and a laptop, in
English and Arabic; every page checked with axe-core. Screenshots go to SHOTS when it is set
(outside git), for a person to look at."""

import os
from pathlib import Path

import pytest

from engagement.formatting import format_datetime
from rewards import ledger
from rewards.checkout.reservations import confirm_reservation
from tests.accessibility import assert_accessible
from tests.checkout.test_portal import hold
from tests.rewards.test_portal_phone import sign_in

pytestmark = pytest.mark.browser

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "laptop": {"viewport": {"width": 1366, "height": 900}},
}
# What each language calls things (from the catalogues), to read the pages as a customer would.
WORDS = {
    "en": {
        "held_note": "700 points held for orders at checkout",
        "held_title": "Points held for orders",
        "held_order": "Order o-2",
        "paid": "Paid with points: order o-1",
        "held_entry": "Points held for order o-2",
        "seed": "Bonus points",
    },
    "ar": {
        "held_note": "700 نقطة محجوزة لطلبات عند الدفع",
        "held_title": "نقاط محجوزة للطلبات",
        "held_order": "الطلب o-2",
        "paid": "دُفع بالنقاط: الطلب o-1",
        "held_entry": "نقاط محجوزة للطلب o-2",
        "seed": "نقاط إضافية",
    },
}


def shoot(page, name):
    if os.environ.get("SHOTS"):
        Path(os.environ["SHOTS"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{os.environ['SHOTS']}/{name}.png", full_page=True)


def fits(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", ["phone", "laptop"])
@pytest.mark.parametrize("language", ["en", "ar"])
def test_held_points_and_an_order_paid_with_points(
    transactional_db, live_server, browser_page, acme, alice, language, size
):
    alice.locale = language
    alice.save(update_fields=["locale"])
    ledger.grant_points(customer=alice, points=2000, reason="seed", idempotency_key="seed")
    confirm_reservation(acme, hold(acme, alice, "o-1", 1000).pk)
    held_until = hold(acme, alice, "o-2", 700).expires_at
    words = WORDS[language]
    page = browser_page(locale=language, **SIZES[size])

    sign_in(page, live_server, alice)

    # Home: what is left, and the held points apart from it
    assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "ar" else "ltr")
    assert page.inner_text("[data-testid=balance]") == "300"
    assert page.inner_text("[data-testid=held]") == words["held_note"]
    # the held points are not called paid until the order is
    assert page.locator(".entry strong").all_inner_texts() == [words["held_entry"], words["paid"], words["seed"]]
    assert page.locator(".entry .amount").all_inner_texts() == ["-700", "-1,000", "+2,000"]
    assert fits(page)
    assert_accessible(page)
    shoot(page, f"home-{language}-{size}")

    # History: the hold with its expiry, then the paid order among the activity
    page.goto(f"{live_server.url}/portal/history/")
    held = page.locator("[data-testid=held-orders]")
    assert held.locator("h2").inner_text() == words["held_title"]
    assert held.locator(".entry strong").all_inner_texts() == [words["held_order"]]
    assert held.locator(".entry .amount").all_inner_texts() == ["700"]
    # minutes away: the time matters, not only the day
    assert held.locator(".entry time").all_inner_texts() == [
        format_datetime(held_until, language=language, tz_name="Asia/Kuala_Lumpur")
    ]
    activity = page.locator("[data-testid=activity]")
    assert activity.locator(".entry strong").all_inner_texts() == [words["held_entry"], words["paid"], words["seed"]]
    assert activity.locator(".entry .amount").all_inner_texts() == ["-700", "-1,000", "+2,000"]
    assert fits(page)
    assert_accessible(page)
    shoot(page, f"history-{language}-{size}")
