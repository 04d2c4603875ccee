"""Fulfilment of merchandise, donation and experience rewards (rewards.fulfilment): every
legal move, every illegal one refused with nothing changed, a return refunding exactly
once (also under two concurrent returns), charities per program, and the webhooks."""

import pytest
from django.core.management import call_command

from engagement.webhooks.models import WebhookEvent
from rewards import fulfilment, ledger
from rewards.fulfilment import FulfilmentDetailsInvalid, FulfilmentMoveRefused
from rewards.models import Charity, Fulfilment, FulfilmentStatusChange, LedgerEntry, Redemption, RewardKind
from rewards.redemptions import grant_reward, redeem_reward
from tests.factories import CustomerFactory, ProgramFactory
from tests.rewards.factories import RewardItemFactory, VoucherItemFactory
from tests.rewards.test_concurrency import run_threads

ADDRESS = {
    "ship_name": "Alice Tan",
    "ship_line1": "12 Jalan Ampang",
    "ship_line2": "",
    "ship_city": "Kuala Lumpur",
    "ship_region": "WP Kuala Lumpur",
    "ship_postcode": "50450",
    "ship_country": "MY",
    "ship_phone": "+60 12-345 6789",
}


def redeem(customer, kind, points=300, stock=None, details=None, key="r-1"):
    item = RewardItemFactory(program=customer.program, kind=kind, points_cost=points, stock=stock)
    ledger.grant_points(customer=customer, points=1000, reason="seed", idempotency_key=f"seed-{key}")
    redemption = redeem_reward(customer=customer, item=item, idempotency_key=key, fulfilment=details)
    return Fulfilment.objects.get(redemption=redemption)


def history(f):
    return list(FulfilmentStatusChange.objects.filter(subject=f).values_list("from_status", "to_status"))


def snapshot(f):
    """Everything a refused move must leave as it was."""
    f.refresh_from_db()
    return (
        f.status, f.carrier, f.tracking_number, f.receipt_number, f.booking_code, len(history(f)),
        ledger.get_account(f.redemption.customer).balance, WebhookEvent.objects.count(),
        f.redemption.item.__class__.objects.get(pk=f.redemption.item_id).stock,
    )  # fmt: skip


MOVES = {
    "shipped": lambda f: fulfilment.mark_shipped(f.pk, carrier="Pos Laju", tracking_number="EP123456789MY"),
    "delivered": lambda f: fulfilment.mark_delivered(f.pk),
    "returned": lambda f: fulfilment.mark_returned(f.pk),
    "donated": lambda f: fulfilment.mark_donated(f.pk),
    "booked": lambda f: fulfilment.mark_booked(f.pk, booking_code="BK-7781"),
}
# (kind, path to reach the starting status) -> the moves that are legal from there.
LEGAL = {
    ("merchandise", ()): {"shipped", "returned"},
    ("merchandise", ("shipped",)): {"delivered", "returned"},
    ("merchandise", ("shipped", "delivered")): {"returned"},
    ("merchandise", ("returned",)): set(),
    ("merchandise", ("shipped", "returned")): set(),
    ("donation", ()): {"donated"},
    ("donation", ("donated",)): set(),
    ("experience", ()): {"booked"},
    ("experience", ("booked",)): set(),
}
CASES = [(kind, path, move, move in legal) for (kind, path), legal in LEGAL.items() for move in MOVES]


@pytest.mark.django_db
@pytest.mark.parametrize("kind, path, move, legal", CASES)
def test_every_move_from_every_status_of_every_kind(alice, kind, path, move, legal):
    f = redeem(alice, kind, details=ADDRESS if kind == "merchandise" else None)
    for step in path:
        MOVES[step](f)
    before = snapshot(f)

    if legal:
        MOVES[move](f)
        f.refresh_from_db()
        assert f.status == move
        assert history(f)[-1] == ((path or ("requested",))[-1], move)
        assert WebhookEvent.objects.filter(type=f"fulfilment.{move}").count() == 1
    else:
        with pytest.raises(FulfilmentMoveRefused) as refused:
            MOVES[move](f)
        assert refused.value.code == "illegal_transition" and refused.value.status == 409
        assert snapshot(f) == before


@pytest.mark.django_db
def test_merchandise_ships_and_is_delivered_with_history_and_webhooks(alice):
    f = redeem(alice, RewardKind.MERCHANDISE, details=ADDRESS)
    assert (f.status, f.ship_city, f.ship_country, f.redemption.status) == (
        "requested",
        "Kuala Lumpur",
        "MY",
        "completed",
    )

    fulfilment.mark_shipped(f.pk, carrier=" Pos Laju ", tracking_number=" EP123456789MY ")
    fulfilment.mark_delivered(f.pk)

    f.refresh_from_db()
    assert (f.status, f.carrier, f.tracking_number) == ("delivered", "Pos Laju", "EP123456789MY")
    assert f.shipped_at <= f.delivered_at
    assert history(f) == [("", "requested"), ("requested", "shipped"), ("shipped", "delivered")]
    shipped = WebhookEvent.objects.get(type="fulfilment.shipped")
    assert shipped.payload == {
        "redemption": f.redemption_id, "customer": "alice", "reward": f.redemption.item_id, "kind": "merchandise",
        "status": "shipped", "carrier": "Pos Laju", "tracking_number": "EP123456789MY",
    }  # fmt: skip
    assert WebhookEvent.objects.get(type="fulfilment.delivered").payload["status"] == "delivered"


@pytest.mark.django_db
@pytest.mark.parametrize("carrier, tracking", [("", "EP1"), ("Pos Laju", ""), ("  ", "  ")])
def test_shipping_needs_a_carrier_and_a_tracking_number(alice, carrier, tracking):
    f = redeem(alice, RewardKind.MERCHANDISE, details=ADDRESS)
    before = snapshot(f)
    with pytest.raises(FulfilmentDetailsInvalid):
        fulfilment.mark_shipped(f.pk, carrier=carrier, tracking_number=tracking)
    assert snapshot(f) == before


@pytest.mark.django_db
def test_a_return_refunds_the_points_and_the_stock_exactly_once(alice):
    f = redeem(alice, RewardKind.MERCHANDISE, points=300, stock=5, details=ADDRESS)
    fulfilment.mark_shipped(f.pk, carrier="DHL", tracking_number="JD0001")
    assert (ledger.get_account(alice).balance, f.redemption.item.__class__.objects.get().stock) == (700, 4)

    fulfilment.mark_returned(f.pk, reason="Parcel refused")
    with pytest.raises(FulfilmentMoveRefused):
        fulfilment.mark_returned(f.pk)

    assert (ledger.get_account(alice).balance, f.redemption.item.__class__.objects.get().stock) == (1000, 5)
    assert list(LedgerEntry.objects.filter(kind="refund").values_list("points", "redemption_id")) == [
        (300, f.redemption_id)
    ]
    assert Redemption.objects.get().status == "returned"
    assert WebhookEvent.objects.filter(type="fulfilment.returned").count() == 1
    call_command("verify_ledger")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_returns_refund_once():
    program = ProgramFactory(slug="race-returns")
    customer = CustomerFactory(program=program, external_id="racer")
    f = redeem(customer, RewardKind.MERCHANDISE, points=400, details=ADDRESS)
    fulfilment.mark_shipped(f.pk, carrier="DHL", tracking_number="JD0002")

    results = run_threads(8, lambda i: fulfilment.mark_returned(f.pk))

    assert sorted(type(r).__name__ for r in results) == ["Fulfilment"] + ["FulfilmentMoveRefused"] * 7
    assert LedgerEntry.objects.filter(kind="refund").count() == 1
    assert ledger.get_account(customer).balance == 1000
    assert history(f)[-1] == ("shipped", "returned") and len(history(f)) == 3
    call_command("verify_ledger")


@pytest.mark.django_db
def test_a_donation_goes_to_the_chosen_charity_and_keeps_a_receipt(alice, acme):
    mercy = Charity.objects.create(program=acme, name_en="Mercy Malaysia", name_ar="ميرسي ماليزيا")
    f = redeem(alice, RewardKind.DONATION, details={"charity": mercy.pk})
    assert (f.status, f.charity, f.receipt_number) == ("requested", mercy, "")

    fulfilment.mark_donated(f.pk)

    f.refresh_from_db()
    assert (f.status, f.receipt_number) == ("donated", f"D-{f.donated_at:%Y}-{f.pk:06d}")
    assert WebhookEvent.objects.get(type="fulfilment.donated").payload == {
        "redemption": f.redemption_id, "customer": "alice", "reward": f.redemption.item_id, "kind": "donation",
        "status": "donated", "charity": "Mercy Malaysia", "receipt_number": f.receipt_number, "amount": "10.00",
        "currency": "MYR",
    }  # fmt: skip


@pytest.mark.django_db
def test_a_receipt_number_is_used_once_per_program(alice, acme):
    first = redeem(alice, RewardKind.DONATION, key="d-1")
    second = redeem(alice, RewardKind.DONATION, key="d-2")
    fulfilment.mark_donated(first.pk, receipt_number="RCPT-1")
    before = snapshot(second)

    with pytest.raises(FulfilmentDetailsInvalid):
        fulfilment.mark_donated(second.pk, receipt_number="RCPT-1")
    assert snapshot(second) == before


@pytest.mark.django_db
def test_a_charity_of_another_program_or_withdrawn_is_refused_and_nothing_is_redeemed(alice, acme, globex):
    theirs = Charity.objects.create(program=globex, name_en="Globex Fund")
    withdrawn = Charity.objects.create(program=acme, name_en="Old Fund", active=False)
    item = RewardItemFactory(program=acme, kind=RewardKind.DONATION, points_cost=300)
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")

    for charity in (theirs, withdrawn):
        with pytest.raises(FulfilmentDetailsInvalid):
            redeem_reward(customer=alice, item=item, idempotency_key=f"d-{charity.pk}", fulfilment={"charity": charity})

    assert (Redemption.objects.count(), Fulfilment.objects.count(), ledger.get_account(alice).balance) == (0, 0, 1000)


@pytest.mark.django_db
def test_an_experience_carries_its_booking_code(alice):
    f = redeem(alice, RewardKind.EXPERIENCE)
    before = snapshot(f)
    with pytest.raises(FulfilmentDetailsInvalid):
        fulfilment.mark_booked(f.pk, booking_code=" ")
    assert snapshot(f) == before

    fulfilment.mark_booked(f.pk, booking_code="BK-7781")
    f.refresh_from_db()
    assert (f.status, f.booking_code) == ("booked", "BK-7781")
    assert WebhookEvent.objects.get(type="fulfilment.booked").payload["booking_code"] == "BK-7781"


@pytest.mark.django_db
def test_digital_rewards_have_no_fulfilment_and_campaign_gifts_do(alice, acme):
    voucher = VoucherItemFactory(program=acme)
    voucher.codes.create(program=acme, code="V-1")
    ledger.grant_points(customer=alice, points=1000, reason="seed", idempotency_key="seed")
    digital = redeem_reward(customer=alice, item=voucher, idempotency_key="v-1")
    gift = grant_reward(customer=alice, item=RewardItemFactory(program=acme), idempotency_key="g-1")

    assert (digital.status, digital.fulfilment_or_none) == ("completed", None)
    assert (gift.fulfilment.status, gift.fulfilment.ship_line1) == ("requested", "")


@pytest.mark.django_db
def test_a_program_sees_only_its_own_fulfilments(alice, acme, globex):
    f = redeem(alice, RewardKind.MERCHANDISE, details=ADDRESS)
    assert fulfilment.get_fulfilment(acme.pk, f.pk) == f
    assert fulfilment.get_fulfilment(globex.pk, f.pk) is None


def test_the_table_lists_every_allowed_move():
    assert fulfilment.allowed_pairs() == [
        ("delivered", "returned"),
        ("requested", "booked"),
        ("requested", "donated"),
        ("requested", "returned"),
        ("requested", "shipped"),
        ("shipped", "delivered"),
        ("shipped", "returned"),
    ]
