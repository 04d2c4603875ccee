"""Browser test: Playwright drives Debian's Chromium against the live server."""

import re

import pytest
from django.core import mail

from rewards import ledger
from rewards.models import PointsAccount, Redemption
from tests.rewards.factories import VoucherCodeFactory, VoucherItemFactory

LINK = re.compile(r"https?://\S+/portal/login/\S+/")


@pytest.mark.django_db(transaction=True)
def test_sign_in_redeem_voucher_then_arabic_mirrors_layout(live_server, browser_page, acme, alice):
    # Given alice with 300 points and a voucher reward with one code
    item = VoucherItemFactory(program=acme, points_cost=120, title_en="Free kopi", title_ar="قهوة مجانية")
    VoucherCodeFactory(item=item, code="KOPI-7777")
    ledger.grant_points(customer=alice, points=300, reason="Welcome", idempotency_key="welcome")
    page = browser_page(viewport={"width": 390, "height": 844}, is_mobile=True)

    # When she asks for a sign-in link and opens it from the email
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("#id_email", "alice@example.com")
    page.click("button.primary")
    page.wait_for_selector("text=Check your email")
    link = LINK.search(mail.outbox[-1].body).group(0)
    page.goto(link)
    page.click("[data-testid=sign-in]")
    assert page.inner_text("[data-testid=balance]") == "300"

    # And redeems the voucher through the confirm step
    page.click("nav.tabs >> text=Rewards")
    page.click(f"li[data-item='{item.pk}'] >> text=Redeem")
    page.click("[data-testid=confirm]")

    # Then she sees the code, and the balance went down
    assert page.inner_text("[data-testid=code]") == "KOPI-7777"
    assert Redemption.objects.get().status == "completed"
    assert PointsAccount.objects.get(customer=alice).balance == 180

    # When she switches to Arabic, the page is right-to-left and mirrored
    ltr_brand = page.locator(".brand").bounding_box()["x"]
    ltr_langs = page.locator(".langs").bounding_box()["x"]
    page.click("button[data-lang=ar]")
    page.wait_for_selector("html[dir=rtl]")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.inner_text("h1") == "قهوة مجانية"
    assert page.inner_text("[data-testid=code]") == "KOPI-7777"
    rtl_brand = page.locator(".brand").bounding_box()["x"]
    rtl_langs = page.locator(".langs").bounding_box()["x"]
    assert ltr_brand < ltr_langs  # brand on the left in English
    assert rtl_brand > rtl_langs  # and on the right in Arabic
