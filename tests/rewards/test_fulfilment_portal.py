"""The portal side of fulfilment: the shipping address asked at redemption (validated, in
the customer's language), the charity choice, and each status on the redemption page and
in "My rewards"."""

import pytest

from rewards import fulfilment, ledger
from rewards.models import Charity, Fulfilment, Redemption, RewardKind
from tests.rewards.factories import RewardItemFactory
from tests.rewards.test_fulfilment import ADDRESS
from tests.rewards.test_portal import signed_in_client

pytestmark = pytest.mark.django_db


def confirm_page(client, item):
    return client.get(f"/portal/rewards/{item.pk}/").content.decode()


def post_redeem(client, item, data):
    page = confirm_page(client, item)
    key = page.split('name="key" value="')[1].split('"')[0]
    return client.post(f"/portal/rewards/{item.pk}/", {"key": key, **data})


@pytest.fixture
def tumbler(acme, alice):
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")
    return RewardItemFactory(program=acme, kind=RewardKind.MERCHANDISE, title_en="Tumbler", points_cost=400)


def test_merchandise_asks_for_an_address_and_refuses_a_bad_one_with_nothing_redeemed(alice, tumbler):
    client = signed_in_client(alice)
    page = confirm_page(client, tumbler)
    assert 'data-testid="shipping-address"' in page and 'autocomplete="postal-code"' in page

    response = post_redeem(client, tumbler, {**ADDRESS, "ship_line1": " ", "ship_postcode": "5#", "ship_country": "XX"})

    html = response.content.decode()
    assert response.status_code == 400
    assert html.count('aria-invalid="true"') == 3
    assert "Enter a postcode of letters and digits." in html
    assert (Redemption.objects.count(), ledger.get_account(alice).balance) == (0, 1000)


def test_the_address_form_speaks_the_customers_language(alice, tumbler):
    client = signed_in_client(alice)
    client.post("/i18n/setlang/", {"language": "ar", "next": "/portal/"})
    response = post_redeem(client, tumbler, {**ADDRESS, "ship_postcode": "5#"})
    html = response.content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert ">ماليزيا</option>" in html
    assert "أدخل رمزًا بريديًا من حروف وأرقام." in html and "Enter a postcode" not in html


def test_redeemed_merchandise_shows_each_status_on_its_page_and_in_my_rewards(alice, tumbler):
    client = signed_in_client(alice)
    response = post_redeem(client, tumbler, ADDRESS)
    f = Fulfilment.objects.get()
    page_url = f"/portal/my-rewards/{f.redemption_id}/"
    assert response["Location"] == page_url + "?done=1"
    assert (f.ship_name, f.ship_phone, ledger.get_account(alice).balance) == ("Alice Tan", "+60 12-345 6789", 600)

    page = client.get(page_url).content.decode()
    assert 'data-status="requested"' in page and "12 Jalan Ampang" in page and "50450 Kuala Lumpur" in page
    assert '<li class="done" aria-current="step">Requested</li>' in page

    fulfilment.mark_shipped(f.pk, carrier="Pos Laju", tracking_number="EP123456789MY")
    page = client.get(page_url).content.decode()
    assert 'data-status="shipped"' in page and 'data-testid="tracking">EP123456789MY<' in page
    assert '<li class="done" aria-current="step">Shipped</li>' in page

    fulfilment.mark_delivered(f.pk)
    assert '<li class="done" aria-current="step">Delivered</li>' in client.get(page_url).content.decode()
    assert 'data-testid="status">Delivered<' in client.get("/portal/my-rewards/").content.decode()

    fulfilment.mark_returned(f.pk)
    page = client.get(page_url).content.decode()
    assert 'data-testid="returned"' in page and 'data-testid="status" class="muted">Returned<' in page
    assert ledger.get_account(alice).balance == 1000


def test_a_donation_lets_the_customer_pick_a_charity_and_shows_the_receipt(acme, alice, globex):
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")
    item = RewardItemFactory(program=acme, kind=RewardKind.DONATION, title_en="Give RM10", points_cost=500)
    mercy = Charity.objects.create(program=acme, name_en="Mercy Malaysia", name_ms="Mercy Malaysia (MY)")
    Charity.objects.create(program=globex, name_en="Globex Fund")
    client = signed_in_client(alice)

    page = confirm_page(client, item)
    assert "Mercy Malaysia" in page and "Globex Fund" not in page
    assert post_redeem(client, item, {}).status_code == 400  # no charity chosen
    assert Redemption.objects.count() == 0

    post_redeem(client, item, {"charity": mercy.pk})
    f = Fulfilment.objects.get()
    fulfilment.mark_donated(f.pk, receipt_number="RCPT-0042")

    page = client.get(f"/portal/my-rewards/{f.redemption_id}/").content.decode()
    receipt = page.split('data-testid="receipt">')[1].split("</dl>")[0]
    assert "RCPT-0042" in receipt and "Mercy Malaysia" in receipt and "RM" in receipt


def test_an_experience_shows_its_booking_code(acme, alice):
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")
    item = RewardItemFactory(program=acme, kind=RewardKind.EXPERIENCE, title_en="Spa day", points_cost=500)
    client = signed_in_client(alice)
    post_redeem(client, item, {})
    f = Fulfilment.objects.get()
    page_url = f"/portal/my-rewards/{f.redemption_id}/"
    assert 'data-testid="booking-code"' not in client.get(page_url).content.decode()

    fulfilment.mark_booked(f.pk, booking_code="SPA-2231")
    assert (
        'data-testid="booking-code" aria-labelledby="booking-label">SPA-2231<' in client.get(page_url).content.decode()
    )


@pytest.mark.parametrize(
    "language, code, name", [("en", "MY", "Malaysia"), ("ar", "MY", "ماليزيا"), ("ms", "SG", "Singapura")]
)
def test_the_status_page_names_the_shipping_country_in_the_customers_language(alice, tumbler, language, code, name):
    client = signed_in_client(alice)
    post_redeem(client, tumbler, {**ADDRESS, "ship_country": code})
    client.post("/i18n/setlang/", {"language": language, "next": "/portal/"})

    page = client.get(f"/portal/my-rewards/{Redemption.objects.get().pk}/").content.decode()

    address = page.split('data-testid="address">')[1].split("</dd>")[0]
    assert address.endswith(f"<br><bdi>{name}</bdi>")
    assert f"<bdi>{code}</bdi>" not in address
