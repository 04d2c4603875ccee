"""Browser test of the referral loop on a 390 px phone, in English and Arabic: the referrer's
share page, the friend's landing page and sign-up, the friend's purchase rewarding both."""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer
from engagement.processing import process_events
from rewards.models import PointsAccount, Referral, RewardsSettings
from tests.accessibility import assert_accessible

LINK = re.compile(r"https?://\S+/portal/login/\S+/")
SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look


def shoot(page, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def sign_in(page, base, email):
    page.goto(f"{base}/portal/login/")
    page.fill("#id_email", email)
    page.click("button.primary")
    page.wait_for_selector("text=Check your email")
    page.goto(LINK.search(mail.outbox[-1].body).group(0))
    page.click("[data-testid=sign-in]")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ar"])
def test_referral_loop_on_a_phone(live_server, browser_page, acme, alice, language):
    RewardsSettings.objects.create(
        program=acme, referral_points=200, referee_points=150, referral_min_purchase=Decimal("30"),
        return_window_days=0, brand_colour="#7a1f5c",
    )  # fmt: skip
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}

    # Given alice on her share page
    page = browser_page(**phone, permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, live_server.url, "alice@example.com")
    if language != "en":
        page.click(f"button[data-lang={language}]")
        page.wait_for_selector(f"html[lang={language}]")
    page.goto(f"{live_server.url}/portal/referrals/")
    assert page.inner_text("[data-testid=referrer-points]") == "200"
    assert page.inner_text("[data-testid=referee-points]") == "150"
    page.click("[data-testid=copy-link]")
    page.wait_for_selector("[data-copy-status]:not(:empty)")
    link = page.input_value("#referral-link")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    shoot(page, f"referrals-{language}")

    # When a friend opens the link on their phone (in the same language) and joins
    friend = browser_page(**phone, locale=language)
    friend.goto(f"{live_server.url}/portal/")  # any page: set the language cookie first
    if language != "en":
        friend.goto(f"{live_server.url}/portal/login/")
        friend.click(f"button[data-lang={language}]")
    friend.goto(link)
    assert friend.inner_text("[data-testid=program-name]") == "Acme"
    assert friend.inner_text("[data-testid=referee-points]") == "150"
    assert friend.evaluate("getComputedStyle(document.querySelector('.topbar')).backgroundColor") == "rgb(122, 31, 92)"
    assert friend.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(friend)
    shoot(friend, f"landing-{language}")
    friend.fill("#id_name", "Farah")
    friend.fill("#id_email", "farah@example.net")
    friend.click("[data-testid=join]")
    friend.wait_for_selector("[data-testid=joined]")
    assert_accessible(friend)
    shoot(friend, f"joined-{language}")
    joined = Customer.objects.get(program=acme, email="farah@example.net")
    assert Referral.objects.get(referee=joined).status == "joined"
    assert mail.outbox[-1].to == ["farah@example.net"]

    # And the shop reports the friend's first purchase
    purchase = CleanEvent(
        event_id="o-1", type="purchase", customer=joined.external_id, occurred_at=timezone.now(),
        value=Decimal("30.00"), currency="MYR", properties={"order_id": "o-1"},
    )  # fmt: skip
    process_events(record_events(acme, [purchase], enqueue=False).event_ids)

    # Then both are rewarded once
    assert PointsAccount.objects.get(customer=alice).balance == 200
    assert PointsAccount.objects.get(customer=joined).balance == 150 + 30
    page.goto(f"{live_server.url}/portal/referrals/")
    shoot(page, f"referrals-after-{language}")

    # And an unknown code is refused on a branded page
    response = friend.goto(f"{live_server.url}/portal/r/FREEMONEY123/")
    assert response.status == 404
    assert friend.locator("[data-testid=invalid-code]").count() == 1
    assert_accessible(friend)
    shoot(friend, f"invalid-{language}")
