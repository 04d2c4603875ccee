""" "Recipient chooses": a gift-card reward linked to several synced provider products lets
the customer pick one at redemption, in the portal and through the API; the payout orders
that product from its provider; a choice outside the reward's offered products is refused
with nothing created."""

import os
from decimal import Decimal

import pytest

from payouts import catalogue, processing, services
from payouts.models import Payout, ProviderAccount, ProviderProduct
from rewards import ledger
from rewards.models import LedgerEntry, Redemption, RewardItem, RewardKind
from tests.accessibility import assert_accessible
from tests.payouts.fakes.tremendous import API_KEY, WEBHOOK_SECRET
from tests.rewards.test_portal import signed_in_client
from tests.rewards.test_portal_phone import PHONE, fits_the_phone, sign_in

CARDS = ["GRABMY00001", "KV934TZ93NQM"]  # Grab and PayPal, both sold in MYR at RM25


def choice_reward(program, fake):
    """A RM25 card for 2,500 points over the synced Grab and PayPal products."""
    ProviderAccount.objects.create(
        program=program, provider="tremendous", base_url=fake.url, api_key=API_KEY, webhook_secret=WEBHOOK_SECRET,
        options={"products": {"gift_card": "GRABMY00001"}},
    )  # fmt: skip
    services.record_funding_top_up(program, "MYR", Decimal("1000.00"), note="test funds")
    catalogue.sync_catalogue(program, "tremendous", country="MY", currency="MYR")
    item = RewardItem.objects.create(
        program=program, kind=RewardKind.GIFT_CARD, title_en="Any RM25 card", title_ar="بطاقة بقيمة ٢٥ رينغيت",
        points_cost=2500, cash_value=Decimal("25.00"),
    )  # fmt: skip
    item.provider_products.set(ProviderProduct.objects.filter(program=program, product_id__in=CARDS))
    return item


def confirm_page(client, item):
    return client.get(f"/portal/rewards/{item.pk}/").content.decode()


def post_redeem(client, item, data):
    key = confirm_page(client, item).split('name="key" value="')[1].split('"')[0]
    return client.post(f"/portal/rewards/{item.pk}/", {"key": key, **data})


def nothing_changed(customer, points):
    return (Redemption.objects.count(), Payout.objects.count(), ledger.get_account(customer).balance) == (0, 0, points)


@pytest.mark.django_db
def test_the_portal_offers_each_card_and_orders_the_one_chosen(acme, alice, fake_tremendous):
    item = choice_reward(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")
    client = signed_in_client(alice)

    page = confirm_page(client, item)
    assert page.count('data-testid="product-choice"') == 2
    assert 'value="GRABMY00001"' in page and 'value="KV934TZ93NQM"' in page

    response = post_redeem(client, item, {"product": "KV934TZ93NQM"})

    redemption = Redemption.objects.get()
    assert response["Location"] == f"/portal/my-rewards/{redemption.pk}/?done=1"
    payout = Payout.objects.get()
    assert (payout.provider, payout.destination_secret["product"], payout.amount) == (
        "tremendous", "KV934TZ93NQM", Decimal("25.00"),
    )  # fmt: skip
    assert processing.process_payout(payout.pk) == "succeeded"
    [order] = fake_tremendous.orders.values()
    assert (order["external_id"], order["rewards"][0]["delivery"]["method"]) == (payout.reference, "LINK")
    assert fake_tremendous.bodies[payout.reference]["reward"]["products"] == ["KV934TZ93NQM"]
    assert Redemption.objects.get().status == "completed"
    assert ledger.get_account(alice).balance == 500


@pytest.mark.django_db
@pytest.mark.parametrize("choice", [None, "", "OKMHM2X2OHYV", "NO-SUCH-CARD"])
def test_the_portal_refuses_no_choice_or_one_outside_the_reward(acme, alice, fake_tremendous, choice):
    # OKMHM2X2OHYV is a real Tremendous product (Amazon.com), but not one of this reward's.
    item = choice_reward(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")

    response = post_redeem(signed_in_client(alice), item, {} if choice is None else {"product": choice})

    html = response.content.decode()
    assert response.status_code == 400
    assert '<p class="error" id="product-error">Choose one of the gift cards.</p>' in html
    assert nothing_changed(alice, 3000)
    assert fake_tremendous.orders == {}


@pytest.mark.django_db
def test_a_card_no_longer_sold_at_the_value_is_not_offered(acme, alice, fake_tremendous):
    item = choice_reward(acme, fake_tremendous)
    ProviderProduct.objects.filter(product_id="KV934TZ93NQM").update(active=False)  # dropped by a sync
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")
    client = signed_in_client(alice)

    assert 'data-testid="products"' not in confirm_page(client, item)  # one card left: nothing to choose
    assert post_redeem(client, item, {"product": "KV934TZ93NQM"}).status_code == 302
    assert Payout.objects.get().destination_secret["product"] == "GRABMY00001"


@pytest.mark.django_db
def test_the_api_lists_the_cards_and_takes_the_choice(acme, alice, acme_api, fake_tremendous):
    item = choice_reward(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")

    [listed] = [r for r in acme_api.get("/api/v1/rewards").json()["results"] if r["id"] == item.pk]
    assert sorted(p["product"] for p in listed["products"]) == CARDS
    body = {"customer": "alice", "reward": item.pk, "product": "GRABMY00001"}
    response = acme_api.post("/api/v1/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert response.status_code == 201
    assert Payout.objects.get().destination_secret["product"] == "GRABMY00001"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "product, status, code",
    [(None, 400, "product_required"), ("OKMHM2X2OHYV", 409, "unavailable"), ("NO-SUCH-CARD", 409, "unavailable")],
)
def test_the_api_refuses_no_choice_or_one_outside_the_reward(
    acme, alice, acme_api, fake_tremendous, product, status, code
):
    item = choice_reward(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")
    entries = LedgerEntry.objects.count()

    body = {"customer": "alice", "reward": item.pk} | ({} if product is None else {"product": product})
    response = acme_api.post("/api/v1/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY="c-2")

    assert (response.status_code, [e["code"] for e in response.json()["errors"]]) == (status, [code])
    assert nothing_changed(alice, 3000) and LedgerEntry.objects.count() == entries


SHOTS = os.environ.get("SCREENSHOT_DIR")  # set it to keep screenshots for a look
WORDS = {
    "en": {"choose": "Choose your gift card", "error": "Choose one of the gift cards."},
    "ar": {"choose": "اختر بطاقة الهدية", "error": "اختر إحدى بطاقات الهدايا."},
}


@pytest.mark.parametrize("language, viewport", [("en", "phone"), ("ar", "phone"), ("en", "desktop")])
def test_choosing_a_card_in_the_browser(
    transactional_db, live_server, browser_page, acme, alice, fake_tremendous, language, viewport
):
    alice.locale = language
    alice.save(update_fields=["locale"])
    item = choice_reward(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")
    size = PHONE if viewport == "phone" else {"viewport": {"width": 1366, "height": 900}}
    page = browser_page(locale=language, **size)
    sign_in(page, live_server, alice)
    words = WORDS[language]

    # She opens the reward and confirms without choosing: told to choose, nothing redeemed
    page.goto(f"{live_server.url}/portal/rewards/{item.pk}/")
    assert page.inner_text("[data-testid=products] legend") == words["choose"]
    page.click("[data-testid=confirm]")
    assert page.inner_text("#product-error") == words["error"]
    assert Redemption.objects.count() == 0
    assert_accessible(page)
    assert viewport == "desktop" or fits_the_phone(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/choose-error-{language}-{viewport}.png", full_page=True)

    # She picks PayPal and confirms: the card is ordered and its link shown
    page.check("input[value=KV934TZ93NQM]")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/choose-{language}-{viewport}.png", full_page=True)
    page.click("[data-testid=confirm]")
    page.wait_for_selector("[data-testid=status]")
    assert processing.process_payout(Payout.objects.get().pk) == "succeeded"
    page.reload()
    page.wait_for_selector("[data-testid=gift-card-link]")
    assert fake_tremendous.bodies[Payout.objects.get().reference]["reward"]["products"] == ["KV934TZ93NQM"]
    assert_accessible(page)
    assert viewport == "desktop" or fits_the_phone(page)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/chosen-{language}-{viewport}.png", full_page=True)
