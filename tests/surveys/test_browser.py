"""Playwright in Chromium on a 390 px phone: surveys in Arabic and English, one question per
screen, the follow-up by score band, the thank-you next step, conditional questions, an
expired link that asks for a fresh one; axe-core on every page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.definitions import BAND_TEXTS, add_question, create_survey
from surveys.models import Invitation, Question, Response, Survey
from surveys.sending import send_survey
from surveys.tokens import invitation_path
from tests.accessibility import assert_accessible
from tests.factories import CustomerFactory
from tests.surveys.factories import make_survey

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WORDS = {
    "en": {"thanks": "Thank you!", "low": "Not at all likely", "progress": ["Question 1 of 2", "Question 2 of 2"]},
    "ar": {"thanks": "شكرًا لك!", "low": "غير محتمل على الإطلاق", "progress": ["السؤال 1 من 2", "السؤال 2 من 2"]},
}


def invite(survey, locale, name):
    customer = CustomerFactory(program=survey.program, external_id=f"{name}-{locale}", locale=locale)
    return send_survey(survey=survey, customer=customer, source="api").invitation


def boxes(page, *scores):
    return [page.locator(f'label.scale-option:has([data-testid="score-{n}"])').bounding_box() for n in scores]


@pytest.mark.parametrize(("locale", "direction"), [("ar", "rtl"), ("en", "ltr")])
@pytest.mark.parametrize(("score", "band"), [(3, "detractor"), (10, "promoter")])
def test_nps_one_question_per_screen_with_a_follow_up_for_the_band(
    transactional_db, live_server, browser_page, acme, locale, direction, score, band
):
    survey = make_survey(acme, "nps")
    invitation = invite(survey, locale, band)
    words = WORDS[locale]
    page = browser_page(locale=locale, **PHONE)

    page.goto(live_server.url + invitation_path(invitation))

    # Screen 1 of 2: the 0-10 scale on one row, in the reading direction, no sideways scroll
    assert page.evaluate("document.documentElement.dir") == direction
    assert page.inner_text("[data-testid=progress]") == words["progress"][0]
    zero, five, ten = boxes(page, 0, 5, 10)
    assert zero["y"] == five["y"] == ten["y"]
    assert (zero["x"] > ten["x"]) == (direction == "rtl")
    assert min(zero["width"], ten["width"]) >= 24 and min(zero["height"], ten["height"]) >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert words["low"] in page.locator(".scale-low").inner_text()
    assert page.locator("textarea").count() == 0
    assert_accessible(page)

    page.locator(f'label.scale-option:has([data-testid="score-{score}"])').tap()
    page.locator("[data-testid=next]").tap()

    # Screen 2 of 2: the follow-up asks what this band is asked
    page.wait_for_selector("textarea")
    assert page.inner_text("[data-testid=progress]") == words["progress"][1]
    assert page.inner_text("[data-testid=question]") == BAND_TEXTS[band][locale]
    assert_accessible(page)
    page.locator("textarea").fill("Slow" if locale == "en" else "بطيء")
    page.locator("[data-testid=send]").tap()
    page.wait_for_url("**/thanks/")

    # Thank you, with a next step: a promoter gets their referral link to share
    assert page.inner_text("h1") == words["thanks"]
    if band == "promoter":
        assert "/portal/r/" in page.input_value("[data-testid=next-link]")
    else:
        assert page.locator("[data-testid=next-link]").count() == 0
    assert page.locator("[data-testid=next-step]").count() == 1
    assert_accessible(page)
    # The link again: "already answered", as accessible as the rest
    page.goto(live_server.url + invitation_path(invitation))
    assert page.locator(".problem-answered").count() == 1
    assert_accessible(page)
    response = Response.objects.get(invitation=invitation)
    assert (response.score, response.locale) == (score, locale)
    assert list(response.answers.order_by("question__position").values_list("value_text", flat=True)) == [
        "",
        "Slow" if locale == "en" else "بطيء",
    ]


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_custom_survey_asks_a_question_only_for_chosen_answers(
    transactional_db, live_server, browser_page, acme, locale
):
    survey = create_survey(program=acme, name="Visit", kind=Survey.Kind.CUSTOM)
    texts = {"en": "How did you visit?", "ar": "كيف زرتنا؟", "ms": "Bagaimana anda melawat?"}
    how = add_question(
        survey,
        Question.Type.SINGLE,
        texts,
        required=True,
        choices=[
            {"value": "shop", "en": "In a shop", "ar": "في المتجر", "ms": "Di kedai"},
            {"value": "app", "en": "In the app", "ar": "في التطبيق", "ms": "Dalam aplikasi"},
        ],
    )
    app_texts = {
        "en": "What would improve the app?",
        "ar": "ما الذي يحسّن التطبيق؟",
        "ms": "Apa yang boleh baiki aplikasi?",
    }
    add_question(survey, Question.Type.TEXT, app_texts, show_if={"question": how.pk, "values": ["app"]})
    shop = invite(survey, locale, "shop")
    app = invite(survey, locale, "app")
    page = browser_page(locale=locale, **PHONE)

    # A shop visitor is asked one question: the first screen sends
    page.goto(live_server.url + invitation_path(shop))
    assert page.locator("[data-testid=progress]").count() == 0
    page.locator("label.choice").first.tap()
    assert_accessible(page)
    page.locator("[data-testid=send]").tap()
    page.wait_for_url("**/thanks/")

    # An app user is asked the app question next
    page.goto(live_server.url + invitation_path(app))
    page.locator("label.choice").nth(1).tap()
    page.locator("[data-testid=send]").tap()
    page.wait_for_selector("textarea")
    assert page.inner_text("[data-testid=question]") == app_texts[locale]
    assert_accessible(page)
    page.locator("textarea").fill("Dark mode")
    page.locator("[data-testid=send]").tap()
    page.wait_for_url("**/thanks/")
    assert Response.objects.get(invitation=shop).answers.count() == 1
    assert Response.objects.get(invitation=app).answers.count() == 2


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_an_expired_link_asks_for_a_fresh_one_on_a_branded_page(
    transactional_db, live_server, browser_page, acme, locale
):
    survey = make_survey(acme, "nps")
    invitation = invite(survey, locale, "late")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = browser_page(locale=locale, **PHONE)

    page.goto(live_server.url + invitation_path(invitation))

    assert page.inner_text(".brand") == "Acme"
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(29, 78, 216)"
    assert_accessible(page)
    page.locator("[data-testid=fresh-link]").tap()
    page.wait_for_selector("[data-testid=renewed]")
    assert_accessible(page)
    fresh = Invitation.objects.get(source="renewal")
    assert (fresh.customer_id, fresh.survey_id, fresh.locale) == (invitation.customer_id, survey.pk, locale)
    assert fresh.expires_at > timezone.now()

    # A made-up link: a clear page, still in the page's language, accessible
    page.goto(live_server.url + "/s/not-a-real-link/")
    assert page.locator("h1").count() == 1
    assert_accessible(page)
