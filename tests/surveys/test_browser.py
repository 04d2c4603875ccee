"""Playwright in Chromium on a phone-sized viewport: answer an NPS survey in Arabic and English."""

import pytest

from surveys.models import Invitation, Response
from surveys.sending import send_survey
from surveys.tokens import invitation_path
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.mark.parametrize(
    ("locale", "direction", "thanks", "low_label"),
    [("ar", "rtl", "شكرًا لك!", "غير محتمل على الإطلاق"), ("en", "ltr", "Thank you!", "Not at all likely")],
)
def test_answer_nps_on_a_phone(transactional_db, live_server, browser_page, acme, locale, direction, thanks, low_label):
    survey = make_survey(acme, "nps")
    customer = CustomerFactory(program=acme, external_id=f"phone-{locale}", locale=locale)
    invitation = send_survey(survey=survey, customer=customer, source="api").invitation
    page = browser_page(locale=locale, **PHONE)

    page.goto(live_server.url + invitation_path(invitation))

    assert page.evaluate("document.documentElement.dir") == direction
    assert page.evaluate("getComputedStyle(document.body).direction") == direction
    zero = page.locator('label.scale-option:has([data-testid="score-0"])').bounding_box()
    five = page.locator('label.scale-option:has([data-testid="score-5"])').bounding_box()
    ten = page.locator('label.scale-option:has([data-testid="score-10"])').bounding_box()
    # The scale reads 0 -> 10 in the reading direction: 0 at the right in Arabic, left in English.
    if direction == "rtl":
        assert zero["x"] > five["x"]
    else:
        assert zero["x"] < five["x"]
    # Big tap targets and no horizontal scrolling on a 390 px screen.
    assert min(zero["height"], ten["height"], zero["width"]) >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    low = page.locator(".scale-low").bounding_box()
    high = page.locator(".scale-high").bounding_box()
    assert (low["x"] > high["x"]) == (direction == "rtl")
    assert low_label in page.locator(".scale-low").inner_text()

    page.locator('label.scale-option:has([data-testid="score-9"])').tap()
    page.locator("textarea").fill("Good" if locale == "en" else "جيد")
    page.locator('button[value="submit"]').tap()
    page.wait_for_url("**/thanks/")

    assert thanks in page.locator("h1").inner_text()
    response = Response.objects.get(invitation=invitation)
    assert (response.score, response.category, response.locale) == (9, "promoter", locale)
    assert Invitation.objects.get(pk=invitation.pk).status == "answered"
