"""The dashboard in Debian's Chromium at 1366×900 and on a 390×844 phone (English and
Arabic): no horizontal overflow (the page was 506 px wide on a phone), no serious or
critical axe-core violation, every chart an image with a title, and an invalid range
answered with a message on the page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from engagement import scoring
from engagement.models import Customer, Event, Goal
from tests.accessibility import assert_accessible

SCREENS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


def seed(program):
    """Twenty customers with purchases, sessions and NPS answers over the last 60 days,
    scored, and one goal: every block of the page has something to draw."""
    now = timezone.now()
    events = []
    for i in range(20):
        person = Customer.objects.create(program=program, external_id=f"b{i}")
        for k in range(i % 5 + 1):
            when = now - timedelta(days=3 * k + i, hours=2)
            events.append(
                Event(
                    program=program,
                    customer=person,
                    event_id=f"p{i}-{k}",
                    type="purchase",
                    occurred_at=when,
                    value=Decimal("1234.50"),
                    properties={"order_id": f"{i}-{k}"},
                )
            )
            events.append(
                Event(
                    program=program,
                    customer=person,
                    event_id=f"s{i}-{k}",
                    type="session",
                    occurred_at=when,
                    properties={"page_views": k + 1, "duration_seconds": 30},
                )
            )
        events.append(
            Event(
                program=program,
                customer=person,
                event_id=f"n{i}",
                type="survey_answered",
                occurred_at=now - timedelta(days=i + 1),
                properties={"survey": "1", "kind": "nps", "score": i % 11},
            )
        )
    Event.objects.bulk_create(events)
    scoring.rescore_program(program)
    Goal.objects.create(
        program=program, name="NPS ≥ 50", metric="nps", target=50, deadline=now.date() + timedelta(days=30)
    )


def signed_in_page(browser_page, live_server, screen, language):
    """A page whose browser carries a staff session (the login form itself is tested in
    tests/admin): the session cookie of a test client, handed to Chromium."""
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(admin)
    page = browser_page(**SCREENS[screen], locale=language, extra_http_headers={"Accept-Language": language})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    return page


def overflow(page):
    """How many CSS pixels the document is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize(("screen", "language"), [("desktop", "en"), ("phone", "en"), ("phone", "ar")])
def test_dashboard_fits_the_screen_and_is_accessible(
    transactional_db, live_server, browser_page, acme, screen, language
):
    seed(acme)
    page = signed_in_page(browser_page, live_server, screen, language)

    page.goto(f"{live_server.url}/admin/dashboard/?program={acme.pk}&days=90")

    page.wait_for_selector("[data-testid=period-heading]")
    assert overflow(page) == 0
    assert page.locator(".eng-card").count() == 15
    # Every card has its chart, or says it has no data; every chart is an image with a title.
    assert page.locator(".eng-card svg[role=img], .eng-card .eng-empty").count() == 15
    assert page.locator("svg[role=img] > title").count() == page.locator("svg[role=img]").count()
    heading = page.locator("[data-testid=period-heading]").inner_text()
    assert heading.startswith("Acme · ") and ("90" in heading)
    assert_accessible(page)
    page.screenshot(path=f"/tmp/dashboard-{screen}-{language}.png", full_page=True)

    # A start after the end: a message on the page, and the default period shown instead.
    page.fill("#eng-start", "2025-05-20")
    page.fill("#eng-end", "2025-05-10")
    page.click("[data-testid=show-range]")
    page.wait_for_selector("[data-testid=period-errors]")
    assert "2025-05-20" in page.locator("[data-testid=period-errors]").inner_text()
    assert overflow(page) == 0
    assert_accessible(page)
