"""The portal on a 390 px phone in English and Arabic (Playwright, Debian's Chromium): home
and history in the reader's language, the tab bar, a redemption to its success page; every
page checked with axe-core (no serious or critical violation)."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from engagement.formatting import format_date
from rewards import activity, ledger
from rewards.redemptions import redeem_reward
from rewards.tiers import recompute_tiers
from tests.accessibility import assert_accessible
from tests.rewards.factories import RewardItemFactory, VoucherCodeFactory, VoucherItemFactory, make_tiers

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LINK = re.compile(r"https?://\S+/portal/login/\S+/")
# What each language calls things (from the catalogues), to read the pages as a customer would.
WORDS = {
    "en": {
        "adjusted": "Points adjusted",
        "redeemed": "Redeemed: Free kopi",
        "birthday": "Birthday bonus",
        "purchase": "Purchase of RM80.00",
        "tabs": ["Home", "History", "Rewards", "My rewards", "Invite friends", "Profile"],
        "to_go": "380 points to go",
        "earn_more": "Earn 1,445 more points to reach Gold.",
    },
    "ar": {
        "adjusted": "تعديل النقاط",
        "redeemed": "تم الاستبدال: قهوة مجانية",
        "birthday": "مكافأة عيد الميلاد",
        "purchase": "مشتريات بقيمة \u200f80.00\xa0MYR",
        "tabs": ["الرئيسية", "السجل", "المكافآت", "مكافآتي", "ادعُ أصدقاءك", "الملف الشخصي"],
        "to_go": "تبقّت 380 نقطة",
        "earn_more": "اكسب 1,445 نقطة أخرى للوصول إلى ذهبي.",
    },
}


def sign_in(page, live_server, customer):
    page.goto(f"{live_server.url}/portal/login/")
    assert_accessible(page)
    page.fill("#id_email", customer.email)
    page.click("button.primary")
    page.wait_for_selector("[data-testid=login-sent]")
    assert_accessible(page)
    page.goto(LINK.search(mail.outbox[-1].body).group(0))
    page.click("[data-testid=sign-in]")
    page.wait_for_selector("[data-testid=balance]")


def fits_the_phone(page):
    return page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.fixture
def customer(acme, alice):
    """alice in Acme with tiers, a purchase earned ten days ago (recorded last), a birthday
    bonus, a redeemed reward and a staff adjustment: 500 points, Silver."""
    make_tiers(acme)
    kopi = RewardItemFactory(program=acme, points_cost=50, title_en="Free kopi", title_ar="قهوة مجانية")
    ledger.grant_points(
        customer=alice, points=470, reason=activity.Reason(activity.BIRTHDAY, "Birthday"), idempotency_key="b"
    )
    redeem_reward(customer=alice, item=kopi, idempotency_key="r", channel="portal")
    ledger.adjust_points(customer=alice, points=-5, reason="Staff: goodwill", actor="t", idempotency_key="adj")
    earned_at = timezone.now() - timezone.timedelta(days=10)
    purchase = activity.purchase("991", Decimal("80.00"), "MYR")
    ledger.bulk_grant(acme, [ledger.Grant(alice, 85, purchase, "p", earned_at=earned_at)])
    recompute_tiers(acme)
    alice.earned_at = earned_at
    return alice


@pytest.mark.parametrize("language", ["en", "ar"])
def test_home_and_history_read_in_the_customers_language(
    transactional_db, live_server, browser_page, customer, language
):
    customer.locale = language
    customer.save(update_fields=["locale"])
    words = WORDS[language]
    page = browser_page(locale=language, **PHONE)

    sign_in(page, live_server, customer)

    # Home: balance, tier progress with a named bar, the latest activity newest first
    assert page.evaluate("document.documentElement.dir") == ("rtl" if language == "ar" else "ltr")
    assert page.inner_text("[data-testid=balance]") == "500"
    assert page.inner_text(".tier p:not(.big)") == words["earn_more"]
    assert page.get_attribute("progress.bar", "aria-label")
    lines = page.locator(".entry strong").all_inner_texts()
    assert lines == [words["adjusted"], words["redeemed"], words["birthday"], words["purchase"]]
    assert fits_the_phone(page)
    assert_accessible(page)

    # History: the same lines, dates by locale, nothing internal
    page.click("nav.tabs a[href='/portal/history/']")
    page.wait_for_selector("nav.tabs a[aria-current=page]")
    assert page.locator(".entry strong").all_inner_texts() == lines
    dates = page.locator(".entry time").all_inner_texts()
    assert dates[-1] == format_date(customer.earned_at, language=language, tz_name="Asia/Kuala_Lumpur")
    text = page.inner_text("main")
    assert "991" not in text and "goodwill" not in text and "Campaign" not in text
    assert page.locator(".entry .amount").all_inner_texts() == ["-5", "-50", "+470", "+85"]
    assert fits_the_phone(page)
    assert_accessible(page)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_tab_bar_fits_a_phone_and_marks_the_current_page(
    transactional_db, live_server, browser_page, customer, language
):
    customer.locale = language
    customer.save(update_fields=["locale"])
    page = browser_page(locale=language, **PHONE)
    sign_in(page, live_server, customer)

    labels = WORDS[language]["tabs"]
    assert page.locator("nav.tabs a").all_inner_texts() == labels
    for index, label in enumerate(labels):
        page.locator("nav.tabs a").nth(index).click()
        current = page.locator("nav.tabs a[aria-current=page]")
        current.wait_for()
        assert current.inner_text() == label
        # Every tab and the sign-out button are on screen, without scrolling sideways.
        for box in [page.locator(sel).bounding_box() for sel in ("nav.tabs .logout button",)] + [
            tab.bounding_box() for tab in page.locator("nav.tabs a").all()
        ]:
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390
            assert box["height"] >= 44
        assert fits_the_phone(page)
        # Marked for eyes too: the current tab is bold and underlined in the brand colour.
        style = current.evaluate("a => [getComputedStyle(a).fontWeight, getComputedStyle(a).borderBottomColor]")
        assert style == ["700", "rgb(11, 110, 79)"]
        assert page.locator("nav.tabs a:not([aria-current])").count() == len(labels) - 1
        assert_accessible(page)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_redeeming_ends_on_a_success_page_with_code_qr_and_barcode(
    transactional_db, live_server, browser_page, acme, customer, language
):
    customer.locale = language
    customer.save(update_fields=["locale"])
    item = VoucherItemFactory(
        program=acme,
        points_cost=120,
        title_en="Teh tarik",
        title_ar="شاي بالحليب",
        how_to_use_en="Show the code at any Acme counter.",
        how_to_use_ar="أظهر الرمز عند أي كاونتر لـ Acme.",
        use_within_days=30,
    )
    VoucherCodeFactory(item=item, code="TEH-2468")
    RewardItemFactory(program=acme, points_cost=880, title_en="Tumbler", title_ar="كوب حراري")
    page = browser_page(locale=language, **PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server, customer)

    page.goto(f"{live_server.url}/portal/rewards/")
    # Out of reach: how many points are missing, in full contrast; no image: a placeholder
    assert page.inner_text("[data-testid=to-go]") == WORDS[language]["to_go"]
    assert page.locator("img.thumb.placeholder").count() == page.locator("li.item").count()
    assert fits_the_phone(page)
    assert_accessible(page)

    page.click(f"li[data-item='{item.pk}'] a.button")
    assert_accessible(page)
    page.click("[data-testid=confirm]")

    page.wait_for_selector("[data-testid=success]")
    assert page.inner_text("[data-testid=code]") == "TEH-2468"
    assert page.locator("[data-testid=qr] svg[role=img]").count() == 1
    assert page.locator("[data-testid=barcode] svg[role=img]").count() == 1
    assert page.get_attribute("[data-testid=qr] svg", "aria-label").endswith("TEH-2468")
    how = {"en": "Show the code at any Acme counter.", "ar": "أظهر الرمز عند أي كاونتر لـ Acme."}
    assert page.inner_text("[data-testid=how-to-use]") == how[language]
    use_by = format_date(timezone.now() + timezone.timedelta(days=30), language=language, tz_name="Asia/Kuala_Lumpur")
    assert use_by in page.inner_text("[data-testid=use-by]")
    assert fits_the_phone(page)
    assert_accessible(page)

    page.click("[data-testid=copy]")
    page.wait_for_selector(".copy-status:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()") == "TEH-2468"


@pytest.mark.parametrize("language", ["en", "ar"])
def test_sign_in_pages_and_the_invitation_page_are_accessible(
    transactional_db, live_server, browser_page, alice, language
):
    page = browser_page(locale=language, **PHONE)
    page.goto(f"{live_server.url}/portal/login/")
    page.click(f"button[data-lang={language}]")
    page.wait_for_selector(f"html[lang={language}]")
    for path in ("/portal/login/", "/portal/login/not-a-token/", "/portal/r/FRIEND01/"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.lang") == language
        assert fits_the_phone(page)
        assert_accessible(page)
    page.goto(f"{live_server.url}/portal/login/")
    page.fill("#id_email", alice.email)
    page.click("button.primary")
    page.wait_for_selector("[data-testid=login-sent]")
    page.goto(LINK.search(mail.outbox[-1].body).group(0))
    assert_accessible(page)  # the "Sign in" confirmation
