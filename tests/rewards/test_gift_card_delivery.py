"""A synced provider gift card redeemed in the portal ends with the provider's order and
its code, PIN or link on the customer's redemption page (rewards.credentials), kept
encrypted at rest and out of the admin list."""

from decimal import Decimal

import pytest

from payouts import catalogue, processing, services
from payouts.models import Payout, PayoutAttempt, ProviderAccount, ProviderProduct
from rewards import ledger
from rewards.models import Redemption, RewardItem, RewardKind
from tests.conftest import wait_for
from tests.payouts.fakes import tango
from tests.payouts.fakes.tremendous import API_KEY, WEBHOOK_SECRET
from tests.rewards.test_portal import signed_in_client


@pytest.fixture
def fake_tango(settings):
    settings.PAYOUTS_ALLOW_LOOPBACK_BASE_URL = True
    server = tango.FakeTango().start()
    yield server
    server.stop()


def grab_card(program, provider, product_id):
    """A 25 MYR Grab card for 2,500 points backed by the provider's synced product."""
    services.record_funding_top_up(program, "MYR", Decimal("1000.00"), note="test funds")
    catalogue.sync_catalogue(program, provider, country="MY", currency="MYR")
    item = RewardItem.objects.create(
        program=program, kind=RewardKind.GIFT_CARD, title_en="Grab RM25", points_cost=2500, cash_value=Decimal("25.00")
    )
    item.provider_products.set(ProviderProduct.objects.filter(program=program, product_id=product_id))
    return item


def tremendous_card(acme, fake_tremendous):
    ProviderAccount.objects.create(
        program=acme, provider="tremendous", base_url=fake_tremendous.url, api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET, options={"products": {"gift_card": "GRABMY00001"}},
    )  # fmt: skip
    return grab_card(acme, "tremendous", "GRABMY00001")


def tango_card(acme, fake_tango):
    ProviderAccount.objects.create(
        program=acme, provider="tango", base_url=fake_tango.url, api_key=tango.PLATFORM_KEY,
        options={"platform_name": tango.PLATFORM_NAME, "customer_identifier": tango.CUSTOMER,
                 "account_identifier": tango.ACCOUNT, "utids": {"gift_card": "U857954"}},
    )  # fmt: skip
    return grab_card(acme, "tango", "U857954")


def redeem_in_portal(client, item):
    page = client.get(f"/portal/rewards/{item.pk}/").content.decode()
    key = page.split('name="key" value="')[1].split('"')[0]
    return client.post(f"/portal/rewards/{item.pk}/", {"key": key})


def test_a_tremendous_card_redeemed_in_the_portal_shows_its_link_after_the_worker_orders_it(
    celery_worker, acme, alice, fake_tremendous
):
    # Given alice with 3,000 points and a Grab card synced from Tremendous
    item = tremendous_card(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=3000, reason="test", idempotency_key="seed")
    client = signed_in_client(alice)

    # When she redeems it in the portal and the worker processes the payout
    response = redeem_in_portal(client, item)
    redemption = Redemption.objects.get()
    assert response["Location"] == f"/portal/my-rewards/{redemption.pk}/?done=1"
    wait_for(lambda: Redemption.objects.get().status == "completed", timeout=60, message="redemption completed")

    # Then the provider has one LINK order under the payout's reference, for that product
    payout = Payout.objects.get()
    [order] = fake_tremendous.orders.values()
    reward = order["rewards"][0]
    assert (order["external_id"], reward["delivery"]["method"], reward["value"]) == (
        payout.reference, "LINK", {"denomination": 25.0, "currency_code": "MYR"},
    )  # fmt: skip
    link = f"https://testflight.tremendous.example/rewards/payout/{reward['id']}"
    redemption = Redemption.objects.get()
    assert (redemption.provider_order, redemption.credentials) == (
        order["id"], [{"kind": "link", "label": "Redemption link", "value": link}],
    )  # fmt: skip
    # ...kept encrypted: the link is not in the stored column, nor in the provider's answer
    # kept with the payout (redacted at storage)
    assert link not in redemption.credentials_sealed and redemption.credentials_sealed
    assert link not in "".join(PayoutAttempt.objects.values_list("response_body", flat=True))
    # ...and her redemption page shows the link and the order number
    page = client.get(f"/portal/my-rewards/{redemption.pk}/").content.decode()
    assert f'href="{link}"' in page and 'data-testid="gift-card-link"' in page
    assert f'data-testid="provider-order">{order["id"]}<' in page
    assert ledger.get_account(alice).balance == 500


def test_a_tango_card_shows_its_code_pin_and_link(acme, alice, fake_tango):
    fake_tango.with_pin = True
    item = tango_card(acme, fake_tango)
    ledger.grant_points(customer=alice, points=2500, reason="test", idempotency_key="seed")
    client = signed_in_client(alice)

    redeem_in_portal(client, item)
    assert processing.process_payout(Payout.objects.get().pk) == "succeeded"

    redemption = Redemption.objects.get()
    [order] = fake_tango.orders
    assert (order["externalRefID"], order["recipient"]) == (
        Payout.objects.get().reference.replace("_", ""), None,
    )  # fmt: skip
    assert (redemption.status, redemption.provider_order) == ("completed", order["referenceOrderID"])
    assert redemption.credentials == [
        {"kind": "code", "label": "Claim Code", "value": "GRAB-0001-TEST"},
        {"kind": "pin", "label": "PIN", "value": "0001"},
        {"kind": "link", "label": "Redemption URL", "value": "https://sandbox.tangocard.example/r/1"},
    ]
    stored = "".join(PayoutAttempt.objects.values_list("response_body", flat=True))
    assert "GRAB-0001-TEST" not in stored and "tangocard.example/r/1" not in stored
    page = client.get(f"/portal/my-rewards/{redemption.pk}/").content.decode()
    assert 'data-testid="gift-card-code"' in page and ">GRAB-0001-TEST</p>" in page
    assert 'data-testid="gift-card-pin"' in page and ">0001</p>" in page
    assert 'href="https://sandbox.tangocard.example/r/1"' in page
    assert page.count('class="primary copy"') == 2


def test_a_failed_order_keeps_no_credential_and_refunds(acme, alice, fake_tremendous):
    fake_tremendous.insufficient_funds = True  # 402: the documented "payment required"
    item = tremendous_card(acme, fake_tremendous)
    ledger.grant_points(customer=alice, points=2500, reason="test", idempotency_key="seed")

    redeem_in_portal(signed_in_client(alice), item)
    assert processing.process_payout(Payout.objects.get().pk) == "failed"

    redemption = Redemption.objects.get()
    assert (redemption.status, redemption.provider_order, redemption.credentials_sealed) == ("failed", "", "")
    assert ledger.get_account(alice).balance == 2500


def test_only_the_customer_sees_the_code(acme, alice, bob, fake_tango, admin_client):
    item = tango_card(acme, fake_tango)
    ledger.grant_points(customer=alice, points=2500, reason="test", idempotency_key="seed")
    redeem_in_portal(signed_in_client(alice), item)
    processing.process_payout(Payout.objects.get().pk)
    redemption = Redemption.objects.get()

    # Another customer of the program gets a 404, and the admin list shows no code.
    assert signed_in_client(bob).get(f"/portal/my-rewards/{redemption.pk}/").status_code == 404
    listing = admin_client.get("/admin/rewards/redemption/").content.decode()
    assert "Grab RM25" in listing and "GRAB-0001-TEST" not in listing


def test_a_sealed_credential_survives_a_key_rotation_through_the_fallbacks(settings):
    from rewards import credentials

    sealed = credentials.seal([{"kind": "code", "label": "Claim Code", "value": "ABC"}])
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "new-key", [settings.SECRET_KEY]
    assert credentials.unseal(sealed) == [{"kind": "code", "label": "Claim Code", "value": "ABC"}]
    settings.SECRET_KEY_FALLBACKS = []
    assert credentials.unseal(sealed) == []
