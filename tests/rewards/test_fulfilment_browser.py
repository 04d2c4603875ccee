"""A phone (390 px) in English and Arabic: redeem merchandise with a shipping address, see
its status page, then the shipment once staff mark it shipped (Playwright, Debian's
Chromium; axe-core: no serious or critical violation)."""

import os

import pytest

from rewards import fulfilment, ledger
from rewards.models import Fulfilment
from tests.accessibility import assert_accessible
from tests.rewards.factories import RewardItemFactory
from tests.rewards.test_portal_phone import PHONE, fits_the_phone, sign_in

WORDS = {
    "en": {"country": "Malaysia", "requested": "Requested", "shipped": "Shipped", "postcode": "Enter a postcode"},
    "ar": {"country": "ماليزيا", "requested": "مطلوب", "shipped": "تم الشحن", "postcode": "أدخل رمزًا بريديًا"},
}
SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look


@pytest.mark.parametrize("language", ["en", "ar"])
def test_redeem_merchandise_with_an_address_and_follow_it(
    transactional_db, live_server, browser_page, acme, alice, language
):
    # Given alice (reading `language`) with 1,000 points and a tumbler in the catalogue
    alice.locale = language
    alice.save(update_fields=["locale"])
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")
    item = RewardItemFactory(
        program=acme, kind="merchandise", title_en="Acme tumbler", title_ar="كوب أكمي الحراري", points_cost=400
    )
    words = WORDS[language]
    page = browser_page(locale=language, **PHONE)
    sign_in(page, live_server, alice)

    # When she opens the reward, sends a bad postcode, then a good address
    page.goto(f"{live_server.url}/portal/rewards/{item.pk}/")
    page.wait_for_selector("[data-testid=shipping-address]")
    page.fill("#id_ship_name", "Alice Tan")
    page.fill("#id_ship_line1", "12 Jalan Ampang")
    page.fill("#id_ship_city", "Kuala Lumpur")
    page.fill("#id_ship_postcode", "5#")
    page.select_option("#id_ship_country", label=words["country"])
    page.fill("#id_ship_phone", "+60 12-345 6789")
    page.click("[data-testid=confirm]")
    assert words["postcode"] in page.inner_text("#ship_postcode-error")
    assert page.get_attribute("#id_ship_postcode", "aria-invalid") == "true"
    assert_accessible(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/address-error-{language}.png", full_page=True)
    page.fill("#id_ship_postcode", "50450")
    page.click("[data-testid=confirm]")

    # Then her reward's page shows it requested, with the address
    page.wait_for_selector("[data-testid=fulfilment]")
    assert page.get_attribute("[data-testid=fulfilment]", "data-status") == "requested"
    assert page.inner_text("[aria-current=step]") == words["requested"]
    assert "12 Jalan Ampang" in page.inner_text("[data-testid=address]")
    assert fits_the_phone(page)
    assert_accessible(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/requested-{language}.png", full_page=True)

    # And once staff mark it shipped, the carrier and tracking number
    fulfilment.mark_shipped(Fulfilment.objects.get().pk, carrier="Pos Laju", tracking_number="EP123456789MY")
    page.reload()
    assert page.inner_text("[aria-current=step]") == words["shipped"]
    assert page.inner_text("[data-testid=tracking]") == "EP123456789MY"
    assert fits_the_phone(page)
    assert_accessible(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/shipped-{language}.png", full_page=True)
