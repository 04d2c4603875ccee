"""rewards.balances.get_balance_summary: the figures the portal home and
GET /customers/{id}/balance show, read in one query."""

from datetime import timedelta

from django.utils import timezone

from rewards import ledger
from rewards.balances import find_customer_balance, get_balance_summary
from rewards.checkout.models import Reservation
from rewards.models import ExpiryRounding, RewardsSettings
from tests.factories import CustomerFactory


def test_a_customer_without_an_account_has_zeros(alice):
    assert get_balance_summary(alice) == {
        "balance": 0, "pending": 0, "held": 0, "expiring_soon": None, "expiring_soon_total": 0,
    }  # fmt: skip


def test_the_soonest_expiry_its_points_and_the_total_within_the_window(acme, alice, bob):
    now = timezone.now().replace(microsecond=0)
    settings = RewardsSettings.get_for(acme)
    settings.expiring_soon_days = 30
    settings.expiry_rounding = ExpiryRounding.NONE  # the dates below as given
    settings.save()
    first, later = now + timedelta(days=5), now + timedelta(days=20)
    grants = [
        (100, first),
        (40, first),  # the soonest date: two lots
        (70, later),
        (500, now + timedelta(days=90)),  # beyond the window
        (9, None),  # never expires
    ]
    for n, (points, expires_at) in enumerate(grants):
        ledger.grant_points(customer=alice, points=points, reason="t", idempotency_key=f"a{n}", expires_at=expires_at)
    ledger.grant_points(
        customer=alice, points=30, reason="t", idempotency_key="p", pending_until=now + timedelta(days=3)
    )
    ledger.grant_points(customer=bob, points=999, reason="t", idempotency_key="b", expires_at=first)  # not alice's
    # Spending takes the soonest-expiring lot first: 100 of the first date's 140 points are left.
    ledger.debit_points(alice, 40, kind="spend", reason="t", idempotency_key="d")
    Reservation.objects.create(
        program=acme, customer=alice, order_id="o1", points=25, money_value=0, currency="MYR", order_total=0,
        evaluation={}, expires_at=now + timedelta(minutes=15),
    )  # fmt: skip

    summary = get_balance_summary(alice, now=now)

    assert summary == {
        "balance": 100 + 40 + 70 + 500 + 9 - 40,
        "pending": 30,
        "held": 25,
        "expiring_soon": {"at": first, "points": 100},
        "expiring_soon_total": 100 + 70,
    }


def test_find_customer_balance_is_the_customer_and_their_summary(acme, globex, alice, bob):
    now = timezone.now().replace(microsecond=0)
    RewardsSettings.objects.update_or_create(program=acme, defaults={"expiry_rounding": ExpiryRounding.NONE})
    ledger.grant_points(customer=alice, points=70, reason="t", idempotency_key="a", expires_at=now + timedelta(days=4))
    ledger.grant_points(customer=bob, points=5, reason="t", idempotency_key="b")
    stranger = CustomerFactory(program=globex, external_id="zed")

    customer, summary = find_customer_balance(acme, "alice", now=now)

    assert (customer.pk, customer.external_id, customer.email, customer.program is acme) == (
        alice.pk, "alice", "alice@example.com", True,
    )  # fmt: skip
    assert summary == get_balance_summary(alice, now=now) == {
        "balance": 70, "pending": 0, "held": 0, "expiring_soon": {"at": now + timedelta(days=4), "points": 70},
        "expiring_soon_total": 70,
    }  # fmt: skip
    # No account yet: zeros, as get_balance_summary
    assert find_customer_balance(globex, "zed", now=now) == (stranger, get_balance_summary(stranger, now=now))
    assert find_customer_balance(globex, "zed")[1]["balance"] == 0
    # Another program's id, or none: None
    assert find_customer_balance(globex, "alice") is None
    assert find_customer_balance(acme, "zed") is None
