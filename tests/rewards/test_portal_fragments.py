"""The portal's per-process fragment caches (rewards/templatetags/portal_fragments.py): a
catalogue card's customer-independent part and base.html's static runs. Whatever changes —
an item's price, title, stock or active flag, the customer's points, the language, the page
— shows on the next request, in exact HTML."""

import re

import pytest
from django.conf import settings

from rewards import ledger
from rewards.models import RewardItem
from tests.rewards.factories import RewardItemFactory
from tests.rewards.test_portal import signed_in_client
from tests.rewards.test_portal_reads import another_process_changes_something

pytestmark = pytest.mark.django_db


def card(html, item):
    """The item's <li> on the catalogue page, or None."""
    found = re.search(rf'<li class="card item[^"]*" data-item="{item.pk}">.*?</li>', html, re.S)
    return found and found.group(0)


def catalogue(client, language="en"):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.get("/portal/rewards/").content.decode()


@pytest.fixture
def tumbler(acme):
    return RewardItemFactory(
        program=acme, title_en="Acme tumbler", title_ar="كوب أكمي", title_ms="Tumbler Acme",
        description_en="Keeps drinks hot.", points_cost=900, cash_value="45.00", stock=5,
    )  # fmt: skip


def expected_card(item, cost, value, note, title="Acme tumbler", description="Keeps drinks hot.", unavailable=True):
    return (
        f'<li class="card item{" unavailable" if unavailable else ""}" data-item="{item.pk}">\n'
        '    <img src="/static/rewards/reward-placeholder.svg" alt="" class="thumb placeholder">\n'
        f"    <h2><bdi>{title}</bdi></h2>\n"
        f'    <p class="muted">{description}</p>\n'
        f'    <p class="cost"><strong>{cost}</strong>\n'
        f'      <span class="muted">· {value}</span></p>\n'
        f"    {note}\n"
        "  </li>"
    )


def test_a_card_follows_price_title_points_and_stock_changes(acme, alice, tumbler):
    ledger.grant_points(customer=alice, points=828, reason="Welcome", idempotency_key="w")
    client = signed_in_client(alice)
    to_go = '<p class="note" data-testid="to-go">{} points to go</p>\n    '
    assert card(catalogue(client), tumbler) == expected_card(tumbler, "900 points", "RM45.00", to_go.format(72))
    assert card(catalogue(client), tumbler) == expected_card(tumbler, "900 points", "RM45.00", to_go.format(72))

    # A price change by another process (no signal here: the row, then the epoch)
    RewardItem.objects.filter(pk=tumbler.pk).update(points_cost=1234, cash_value="61.50")
    another_process_changes_something()
    assert card(catalogue(client), tumbler) == expected_card(tumbler, "1,234 points", "RM61.50", to_go.format(406))

    # A title and description saved by staff
    tumbler.refresh_from_db()
    tumbler.title_en, tumbler.description_en = "Steel tumbler", "Hot for 6 hours.\nCold for 12."
    tumbler.save()
    assert card(catalogue(client), tumbler) == expected_card(
        tumbler, "1,234 points", "RM61.50", to_go.format(406), title="Steel tumbler",
        description="Hot for 6 hours.<br>Cold for 12.",
    )  # fmt: skip

    # More points: the same card, now redeemable
    ledger.grant_points(customer=alice, points=406, reason="Bonus", idempotency_key="b")
    redeem = f'<a class="button primary" href="/portal/rewards/{tumbler.pk}/">Redeem</a>'
    assert card(catalogue(client), tumbler) == expected_card(
        tumbler, "1,234 points", "RM61.50", redeem, title="Steel tumbler",
        description="Hot for 6 hours.<br>Cold for 12.", unavailable=False,
    )  # fmt: skip

    # The last unit taken (a queryset update, as a redemption does), then withdrawn
    RewardItem.objects.filter(pk=tumbler.pk).update(stock=0)
    assert card(catalogue(client), tumbler) == expected_card(
        tumbler, "1,234 points", "RM61.50", '<p class="note">This reward is out of stock.</p>\n    ',
        title="Steel tumbler", description="Hot for 6 hours.<br>Cold for 12.",
    )  # fmt: skip
    RewardItem.objects.filter(pk=tumbler.pk).update(active=False)
    assert card(catalogue(client), tumbler) is None


def test_a_card_and_the_page_chrome_follow_the_language(acme, alice, tumbler):
    ledger.grant_points(customer=alice, points=1000, reason="Welcome", idempotency_key="w")
    client = signed_in_client(alice)
    redeem = '<a class="button primary" href="/portal/rewards/{}/">{}</a>'
    for _ in range(2):  # cold, then from the cache
        html = catalogue(client, "ar")
        assert card(html, tumbler) == expected_card(
            tumbler, "900 نقطة", "\u200f45.00\u00a0MYR", redeem.format(tumbler.pk, "استبدال"), title="كوب أكمي",
            description="Keeps drinks hot.", unavailable=False,
        )  # fmt: skip
        assert '<html lang="ar" dir="rtl">' in html
        assert 'class="lang current" data-lang="ar">العربيّة</button>' in html
        assert 'class="lang" data-lang="en">English</button>' in html

        html = catalogue(client, "ms")
        assert card(html, tumbler) == expected_card(
            tumbler, "900 mata", "RM45.00", redeem.format(tumbler.pk, "Tebus"), title="Tumbler Acme",
            description="Keeps drinks hot.", unavailable=False,
        )  # fmt: skip
        assert 'class="lang current" data-lang="ms">Bahasa Melayu</button>' in html

        html = catalogue(client, "en")
        assert 'class="lang current" data-lang="en">English</button>' in html
        assert 'class="lang" data-lang="ar">العربيّة</button>' in html


def test_the_tab_bar_marks_the_page_it_is_on(alice):
    client = signed_in_client(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for _ in range(2):
        home = client.get("/portal/").content.decode()
        rewards = client.get("/portal/rewards/").content.decode()
        assert '<li><a href="/portal/" aria-current="page" class="current">Home</a></li>' in home
        assert '<li><a href="/portal/rewards/">Rewards</a></li>' in home
        assert '<li><a href="/portal/">Home</a></li>' in rewards
        assert '<li><a href="/portal/rewards/" aria-current="page" class="current">Rewards</a></li>' in rewards
        assert "<title>Home · Acme</title>" in home and '<a class="brand" href="/portal/"><bdi>Acme</bdi></a>' in home
