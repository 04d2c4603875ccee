"""Provider catalogues mirrored into the program (payouts.catalogue) and gift-card rewards
backed by them (rewards.provider_rewards): a synced product redeemed ends in the provider's
order for that product; the recipient chooses among several; withdrawn products stop."""

import copy
from decimal import Decimal

import pytest

from payouts import catalogue, processing
from payouts.models import Payout, ProviderProduct
from rewards import ledger
from rewards.models import Redemption, RewardItem, RewardKind
from tests.payouts.fakes import tango


def products(program, provider):
    return {
        p.product_id: (p.name, p.currency, p.value_type, p.min_value, p.max_value, p.face_values, p.active)
        for p in ProviderProduct.objects.filter(program=program, provider=provider)
    }


def test_tango_catalogue_is_mirrored_with_its_values(acme, tango_account, fake_tango):
    result = catalogue.sync_catalogue(acme, "tango", country="MY", currency="MYR")

    assert vars(result) == {"added": 2, "changed": 0, "withdrawn": 0, "unchanged": 0}
    assert products(acme, "tango") == {
        "U857954": ("Grab Gift Card MYR", "MYR", "range", Decimal("10.00"), Decimal("500.00"), [], True),
        "U857955": ("Grab Gift Card MYR 50", "MYR", "fixed", None, None, ["50.00"], True),
    }
    grab = ProviderProduct.objects.get(product_id="U857954")
    assert (grab.brand, grab.image_url, grab.terms) == (
        "Grab",
        "https://example.invalid/grab-300.png",
        "Not exchangeable for cash.",
    )
    assert grab.instructions == "Open the Grab app, Payment, Gift cards, enter the code."


def test_a_second_sync_records_changes_and_withdraws_what_the_provider_dropped(
    acme, tango_account, fake_tango, monkeypatch
):
    catalogue.sync_catalogue(acme, "tango", currency="MYR")
    changed = copy.deepcopy(tango.CATALOG)
    grab_items = changed["brands"][0]["items"]
    grab_items[0]["maxValue"] = 200.0  # a price band change
    del grab_items[1]  # the fixed card is no longer sold
    monkeypatch.setattr(tango, "CATALOG", changed)

    result = catalogue.sync_catalogue(acme, "tango", currency="MYR")

    assert vars(result) == {"added": 0, "changed": 1, "withdrawn": 1, "unchanged": 0}
    assert products(acme, "tango")["U857954"][4] == Decimal("200.00")
    assert products(acme, "tango")["U857955"][6] is False


def test_tremendous_catalogue_filtered_by_country_and_currency(acme, http_account, fake_provider):
    catalogue.sync_catalogue(acme, "tremendous", country="MY", currency="MYR")

    assert products(acme, "tremendous") == {
        "GRABMY00001": ("Grab", "MYR", "range", Decimal("10.00"), Decimal("500.00"), [], True),
        "KV934TZ93NQM": ("PayPal", "MYR", "range", Decimal("1.00"), Decimal("5000.00"), [], True),
    }


def test_sync_all_follows_the_accounts_options_and_one_failure_does_not_stop_the_rest(
    acme, globex, tango_account, fake_tango, http_account
):
    from payouts.models import ProviderAccount

    tango_account.options = {**tango_account.options, "catalogue": {"currency": "MYR"}}
    tango_account.save()
    ProviderAccount.objects.create(
        program=globex, provider="tremendous", base_url="http://127.0.0.1:9", options={"catalogue": {}}
    )

    outcome = catalogue.sync_all()

    assert vars(outcome[("acme", "tango")]) == {"added": 2, "changed": 0, "withdrawn": 0, "unchanged": 0}
    assert outcome[("globex", "tremendous")].startswith("Tremendous products:")
    assert ("acme", "tremendous") not in outcome  # no "catalogue" option: not synced


@pytest.fixture
def grab_reward(funded_acme, http_account, fake_provider):
    """A 25 MYR Grab card for 2,500 points, backed by Tremendous' Grab product."""
    catalogue.sync_catalogue(funded_acme, "tremendous", country="MY", currency="MYR")
    item = RewardItem.objects.create(
        program=funded_acme,
        kind=RewardKind.GIFT_CARD,
        title_en="Grab RM25",
        points_cost=2500,
        cash_value=Decimal("25.00"),
    )
    item.provider_products.set(ProviderProduct.objects.filter(product_id="GRABMY00001"))
    return item


def give_points(customer, points):
    ledger.grant_points(customer=customer, points=points, reason="test", idempotency_key=f"t-{customer.pk}")


def test_redeeming_a_synced_gift_card_orders_that_product_from_its_provider(
    alice, grab_reward, fake_provider, acme_api
):
    give_points(alice, 3000)

    response = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": grab_reward.pk}, format="json",
        headers={"Idempotency-Key": "r-1"},
    )  # fmt: skip

    assert response.status_code == 201
    payout = Payout.objects.get()
    assert (payout.provider, payout.destination["product"], payout.amount) == (
        "tremendous",
        "GRABMY00001",
        Decimal("25.00"),
    )
    assert processing.process_payout(payout.pk) == "succeeded"
    [(_, _, body)] = [r for r in fake_provider.requests if r[0] == "POST"]
    assert body["reward"]["products"] == ["GRABMY00001"]
    assert Redemption.objects.get().status == Redemption.Status.COMPLETED


def test_with_several_cards_the_recipient_chooses(alice, grab_reward, acme_api):
    grab_reward.provider_products.set(ProviderProduct.objects.filter(product_id__in=["GRABMY00001", "KV934TZ93NQM"]))
    give_points(alice, 6000)

    listed = acme_api.get("/api/v1/rewards?customer=alice").json()
    unchosen = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": grab_reward.pk}, format="json",
        headers={"Idempotency-Key": "r-2"},
    )  # fmt: skip
    chosen = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": grab_reward.pk, "product": "KV934TZ93NQM"},
        format="json", headers={"Idempotency-Key": "r-3"},
    )  # fmt: skip

    assert [p["product"] for p in listed["results"][0]["products"]] == ["GRABMY00001", "KV934TZ93NQM"]
    assert (unchosen.status_code, unchosen.json()["errors"][0]["code"]) == (400, "product_required")
    assert chosen.status_code == 201
    assert Payout.objects.get().destination["product"] == "KV934TZ93NQM"
    assert ledger.get_account(alice).balance == 3500


def test_a_reward_whose_card_is_no_longer_sold_at_its_value_is_not_offered(alice, grab_reward, acme_api):
    ProviderProduct.objects.filter(product_id="GRABMY00001").update(max_value=Decimal("20.00"))
    give_points(alice, 3000)

    listed = acme_api.get("/api/v1/rewards?customer=alice").json()
    refused = acme_api.post(
        "/api/v1/redemptions", {"customer": "alice", "reward": grab_reward.pk}, format="json",
        headers={"Idempotency-Key": "r-4"},
    )  # fmt: skip

    assert (listed["results"][0]["eligible"], listed["results"][0]["products"]) == (False, [])
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (409, "unavailable")
    assert (Payout.objects.count(), ledger.get_account(alice).balance) == (0, 3000)
