"""The preference page and the email's unsubscribe link on a 390 px phone, in English and
Arabic, as a customer reaches them from an email (no sign-in): each change is saved with its
source, and axe-core finds no serious or critical violation."""

import pytest
from django.conf import settings

from engagement.channels import consent
from engagement.models import Customer
from tests.accessibility import assert_accessible

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ar"])
def test_unsubscribing_from_the_email_link_then_the_preference_page(live_server, browser_page, alice, language):
    Customer.objects.filter(pk=alice.pk).update(consent_email=True, consent_sms=True, locale=language)
    page = browser_page(**PHONE, locale=language)

    # The email's visible unsubscribe link: a button, nothing changes on GET
    page.goto(live_server.url + consent.unsubscribe_url(alice).removeprefix(settings.SITE_URL))
    assert Customer.objects.get(pk=alice.pk).consent_email is True
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
    page.click("[data-testid=unsubscribe]")
    page.wait_for_selector("[data-testid=unsubscribed]")
    assert Customer.objects.get(pk=alice.pk).consent_email is False
    assert_accessible(page)

    # The preference page: SMS off too, then saved
    page.goto(live_server.url + consent.preferences_url(alice).removeprefix(settings.SITE_URL))
    assert page.is_checked("input[name=channel_sms]")
    assert_accessible(page)
    page.uncheck("input[name=channel_sms]")
    page.click("[data-testid=save-preferences]")
    page.wait_for_selector("[data-testid=saved]")
    assert (Customer.objects.get(pk=alice.pk).consent_email, Customer.objects.get(pk=alice.pk).consent_sms) == (
        False,
        False,
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)
