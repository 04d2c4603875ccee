"""Points as payment through the API: hold, confirm, cancel, expiry, refunds, idempotency."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import IdempotencyRecord
from engagement.processing import process_events
from rewards import ledger
from rewards.checkout.models import CodeUse, Promotion, PromotionCode, Reservation
from rewards.checkout.reservations import expire_reservations
from rewards.models import LedgerEntry, PointsAccount, PointsLot
from tests.checkout.conftest import cart, line, make_promotion

pytestmark = pytest.mark.django_db

RESERVE = "/api/v1/checkout/reservations"


def reserve(api, order="o-1", points=1000, codes=None, price="100.00", **headers):
    body = cart("alice", line("RUN-9", price, 1, "shoes"), codes=codes, order_id=order, points=points)
    return api.post(RESERVE, body, format="json", **headers)


def act(api, reservation_id, action):
    return api.post(f"{RESERVE}/{reservation_id}/{action}", format="json")


def balance(api):
    data = api.get("/api/v1/customers/alice/balance").data
    return data["balance"], data["held"]


@pytest.fixture
def funded(alice):
    ledger.grant_points(customer=alice, points=5000, reason="seed", idempotency_key="seed")
    return alice


def test_hold_confirm_and_the_balance_shows_held_points(acme_api, funded):
    response = reserve(acme_api)
    assert response.status_code == 201, response.data
    data = response.data
    assert (data["status"], data["points"], data["money_value"], data["order_id"]) == ("held", 1000, "10.00", "o-1")
    assert data["evaluation"]["points"]["earned"] == 100
    assert balance(acme_api) == (4000, 1000)

    # A repeat of the order answers the same hold (200), nothing more is taken
    again = reserve(acme_api)
    assert (again.status_code, again.data["id"]) == (200, data["id"])
    other = reserve(acme_api, points=2000)
    assert (other.status_code, other.data["errors"][0]["code"]) == (409, "order_already_reserved")

    confirmed = act(acme_api, data["id"], "confirm")
    assert (confirmed.status_code, confirmed.data["status"]) == (200, "confirmed")
    assert act(acme_api, data["id"], "confirm").data["status"] == "confirmed"  # idempotent
    assert balance(acme_api) == (4000, 0)
    spend = LedgerEntry.objects.get(kind="spend")
    assert (spend.points, spend.source_type, spend.source_id, spend.message_code) == (
        -1000, "order", "o-1", "order_payment"
    )  # fmt: skip

    # Cancel after confirm: 409 and nothing changes
    refused = act(acme_api, data["id"], "cancel")
    assert (refused.status_code, refused.data["errors"][0]["code"]) == (409, "reservation_confirmed")
    assert balance(acme_api) == (4000, 0)
    assert Reservation.objects.get().status == "confirmed"
    call_command("verify_ledger")


def test_cancel_gives_points_and_codes_back_with_their_expiry(acme, acme_api, funded):
    make_promotion(acme, code="ONCE")
    lot_expiry = PointsLot.objects.get().expires_at
    held = reserve(acme_api, codes=["once"]).data
    assert held["evaluation"]["discounts"][0]["amount"] == "10.00"
    assert PromotionCode.objects.get().uses == Promotion.objects.get().uses == 1

    cancelled = act(acme_api, held["id"], "cancel")
    assert (cancelled.status_code, cancelled.data["status"]) == (200, "cancelled")
    assert act(acme_api, held["id"], "cancel").status_code == 200  # idempotent
    assert balance(acme_api) == (5000, 0)
    assert PromotionCode.objects.get().uses == Promotion.objects.get().uses == 0
    assert CodeUse.objects.get().released is True
    returned = LedgerEntry.objects.get(kind="refund")
    assert (returned.points, returned.expires_at, returned.message_code) == (
        1000, lot_expiry, "order_payment_returned"
    )  # fmt: skip
    refused = act(acme_api, held["id"], "confirm")
    assert (refused.status_code, refused.data["errors"][0]["code"]) == (409, "reservation_cancelled")
    call_command("verify_ledger")


def test_a_hold_expires_by_itself_and_cannot_be_confirmed_after(acme, acme_api, funded):
    make_promotion(acme, code="ONCE")
    held = reserve(acme_api, codes=["ONCE"]).data
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        late = act(acme_api, held["id"], "confirm")
        assert (late.status_code, late.data["errors"][0]["code"]) == (409, "reservation_expired")
        assert Reservation.objects.get().status == "held"  # the refusal changed nothing
        assert expire_reservations() == 1
        assert expire_reservations() == 0
        again = act(acme_api, held["id"], "confirm")
        assert again.data["errors"][0]["code"] == "reservation_expired"
        assert act(acme_api, held["id"], "cancel").data["status"] == "expired"
    assert balance(acme_api) == (5000, 0)
    assert PromotionCode.objects.get().uses == 0
    call_command("verify_ledger")


def test_refusals_store_nothing(acme, acme_api, funded):
    make_promotion(acme, code="OLD", ends_at=timezone.now())
    cases = [
        (reserve(acme_api, points=6000, price="100.00"), "insufficient_points", "points"),
        (reserve(acme_api, points=4000, price="30.00"), "points_over_limit", "points"),
        (reserve(acme_api, codes=["OLD"]), "expired", "codes.0"),
        (reserve(acme_api, codes=["NOPE"]), "not_found", "codes.0"),
    ]
    assert [(r.status_code, r.data["errors"][0]["code"], r.data["errors"][0]["attr"]) for r, _c, _a in cases] == [
        (409, code, attr) for _r, code, attr in cases
    ]
    assert Reservation.objects.count() == CodeUse.objects.count() == 0
    assert balance(acme_api) == (5000, 0)
    assert LedgerEntry.objects.count() == 1


def test_idempotency_key_replays_and_refuses_another_body(acme_api, funded):
    first = reserve(acme_api, HTTP_IDEMPOTENCY_KEY="k-1")
    replay = reserve(acme_api, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (replay.status_code, replay.data, replay.headers["Idempotent-Replayed"]) == (201, first.data, "true")
    other = reserve(acme_api, order="o-2", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other.status_code, other.data["errors"][0]["code"]) == (422, "idempotency_key_reused")
    assert Reservation.objects.count() == IdempotencyRecord.objects.count() == 1


def test_unknown_or_other_programs_reservation_is_404(acme_api, globex, partner_client, funded):
    held = reserve(acme_api).data
    theirs = partner_client(globex)
    assert [act(theirs, held["id"], a).status_code for a in ("confirm", "cancel")] == [404, 404]
    assert theirs.get(f"{RESERVE}/{held['id']}").status_code == 404
    assert act(acme_api, held["id"] + 1, "confirm").status_code == 404
    assert Reservation.objects.get().status == "held"


def test_a_refund_returns_spent_points_in_proportion_and_claws_back_earned(acme, acme_api, funded):
    # Given order o-1 of 100.00 paid with 1,000 points (10.00) and earning 100 points
    held = reserve(acme_api).data
    act(acme_api, held["id"], "confirm")
    lines = [{k: x[k] for k in ("sku", "category", "quantity", "unit_price", "tags", "discount")}
             for x in held["evaluation"]["lines"]]  # fmt: skip
    now = timezone.now()

    def send(event_id, kind, value):
        event = CleanEvent(
            event_id=event_id, type=kind, customer="alice", occurred_at=now, value=Decimal(value), currency="MYR",
            properties={"order_id": "o-1", "lines": lines} if kind == "purchase" else {"order_id": "o-1"},
        )  # fmt: skip
        process_events(record_events(acme, [event], enqueue=False).event_ids)

    send("p-1", "purchase", "100.00")  # the order total, points included
    assert PointsAccount.objects.get(customer=funded).pending == 100

    # When a quarter of the order is refunded (twice the same event: once)
    send("r-1", "refund", "25.00")
    send("r-1", "refund", "25.00")

    # Then 250 of the 1,000 spent points come back and 25 of the 100 earned are taken
    account = PointsAccount.objects.get(customer=funded)
    assert (account.balance, account.pending) == (4250, 75)
    assert Reservation.objects.get().points_returned == 250
    send("r-2", "refund", "100.00")  # more than what is left: only the rest
    assert Reservation.objects.get().points_returned == 1000
    assert PointsAccount.objects.get(customer=funded).balance == 5000
    call_command("verify_ledger")
