"""Ledger services: grants, debits, adjustments, expiry, pending release, clawback."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from rewards import ledger
from rewards.errors import InsufficientPoints, InvalidPoints
from rewards.models import Clawback, EntryKind, LedgerEntry, PointsAccount, PointsLot, RewardsSettings

pytestmark = pytest.mark.django_db


def balance(customer):
    account = PointsAccount.objects.filter(customer=customer).first()
    return (account.balance, account.pending) if account else (0, 0)


def test_grant_points_credits_balance_and_lot(alice, assert_ledger_ok):
    entry = ledger.grant_points(customer=alice, points=250, reason="Welcome", idempotency_key="welcome-alice")

    assert (entry.kind, entry.points, entry.balance_after, entry.reason) == ("earn", 250, 250, "Welcome")
    assert balance(alice) == (250, 0)
    lot = PointsLot.objects.get(entry=entry)
    assert (lot.points, lot.remaining, lot.status) == (250, 250, "available")
    assert_ledger_ok()


def test_grant_points_is_idempotent_per_program(alice, assert_ledger_ok):
    first = ledger.grant_points(customer=alice, points=100, reason="x", idempotency_key="k1")
    again = ledger.grant_points(customer=alice, points=999, reason="y", idempotency_key="k1")

    assert again.pk == first.pk
    assert balance(alice) == (100, 0)
    assert LedgerEntry.objects.count() == 1
    assert_ledger_ok()


def test_same_key_in_another_program_is_separate(alice, globex):
    from tests.factories import CustomerFactory

    zed = CustomerFactory(program=globex, external_id="zed")
    ledger.grant_points(customer=alice, points=10, reason="x", idempotency_key="shared")
    ledger.grant_points(customer=zed, points=20, reason="x", idempotency_key="shared")

    assert balance(alice) == (10, 0)
    assert balance(zed) == (20, 0)


@pytest.mark.parametrize("points", [0, -5, 1.5, True])
def test_grant_refuses_non_positive_or_non_integer(alice, points):
    with pytest.raises(InvalidPoints):
        ledger.grant_points(customer=alice, points=points, reason="x", idempotency_key="bad")
    assert LedgerEntry.objects.count() == 0


def test_expiry_is_rounded_to_end_of_month_in_program_timezone(alice, acme):
    RewardsSettings.get_for(acme)  # defaults: 365 days, month rounding
    with time_machine.travel(datetime(2026, 3, 10, 4, 0, tzinfo=UTC), tick=False):
        entry = ledger.grant_points(customer=alice, points=10, reason="x", idempotency_key="k")
    # 2027-03-10 + rounding to the end of March in Kuala Lumpur (UTC+8) = 15:59:59 UTC on 31 March.
    assert entry.expires_at == datetime(2027, 3, 31, 15, 59, 59, tzinfo=UTC)


def test_expiry_rounded_to_end_of_day(alice, acme):
    RewardsSettings.objects.create(program=acme, expiry_rounding="day")
    entry = ledger.grant_points(
        customer=alice, points=10, reason="x", idempotency_key="k", expires_at=datetime(2030, 1, 5, 1, tzinfo=UTC)
    )
    assert entry.expires_at == datetime(2030, 1, 5, 15, 59, 59, tzinfo=UTC)


def test_debit_consumes_oldest_expiring_lots_first(alice, assert_ledger_ok):
    RewardsSettings.objects.create(program=alice.program, points_validity_days=0)  # 0 = never expire
    never = ledger.grant_points(customer=alice, points=100, reason="a", idempotency_key="a")
    late = ledger.grant_points(
        customer=alice, points=100, reason="b", idempotency_key="b", expires_at=datetime(2031, 1, 1, tzinfo=UTC)
    )
    soon = ledger.grant_points(
        customer=alice, points=100, reason="c", idempotency_key="c", expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert (never.expires_at, PointsLot.objects.get(entry=never).expires_at) == (None, None)

    ledger.debit_points(alice, 150, kind=EntryKind.ADJUST, reason="test", idempotency_key="d")

    remaining = {lot.entry_id: lot.remaining for lot in PointsLot.objects.all()}
    assert remaining == {soon.pk: 0, late.pk: 50, never.pk: 100}
    assert balance(alice) == (150, 0)
    assert_ledger_ok()


def test_overdraw_is_refused_and_nothing_changes(alice):
    ledger.grant_points(customer=alice, points=100, reason="a", idempotency_key="a")
    with pytest.raises(InsufficientPoints):
        ledger.adjust_points(customer=alice, points=-101, reason="oops", actor="staff", idempotency_key="adj")
    assert balance(alice) == (100, 0)
    assert LedgerEntry.objects.count() == 1
    assert PointsLot.objects.get().remaining == 100


def test_adjustment_requires_reason(alice):
    with pytest.raises(InvalidPoints):
        ledger.adjust_points(customer=alice, points=10, reason="  ", actor="staff", idempotency_key="adj")
    assert LedgerEntry.objects.count() == 0


def test_adjustments_both_ways(alice, assert_ledger_ok):
    plus = ledger.adjust_points(customer=alice, points=40, reason="goodwill", actor="staff", idempotency_key="p")
    minus = ledger.adjust_points(customer=alice, points=-15, reason="fix", actor="staff", idempotency_key="m")
    assert (plus.kind, plus.points, minus.kind, minus.points) == ("adjust", 40, "adjust", -15)
    assert balance(alice) == (25, 0)
    assert_ledger_ok()


def test_expire_points_records_expire_entry(alice, assert_ledger_ok):
    ledger.grant_points(
        customer=alice, points=70, reason="a", idempotency_key="a", expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    ledger.grant_points(
        customer=alice, points=30, reason="b", idempotency_key="b", expires_at=datetime(2031, 1, 1, tzinfo=UTC)
    )

    with time_machine.travel(datetime(2030, 2, 1, tzinfo=UTC), tick=False):
        assert ledger.expire_points() == 70
        assert ledger.expire_points() == 0  # nothing left to expire

    entry = LedgerEntry.objects.get(kind=EntryKind.EXPIRE)
    assert (entry.points, entry.balance_after) == (-70, 30)
    assert balance(alice) == (30, 0)
    assert_ledger_ok()


def test_pending_points_are_released_after_window(alice, assert_ledger_ok):
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        entry = ledger.grant_points(
            customer=alice, points=80, reason="p", idempotency_key="p", pending_until=now + timedelta(days=14)
        )
        assert (entry.points, entry.pending_points) == (0, 80)
        assert balance(alice) == (0, 80)
        assert ledger.release_pending_points() == 0
    with time_machine.travel(now + timedelta(days=15), tick=False):
        assert ledger.release_pending_points() == 1
    assert balance(alice) == (80, 0)
    release = LedgerEntry.objects.exclude(pk=entry.pk).get()
    assert (release.kind, release.points, release.pending_points) == ("earn", 80, -80)
    assert_ledger_ok()


def test_clawback_cancels_pending_then_takes_balance_and_records_rest(alice, assert_ledger_ok):
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        ledger.grant_points(customer=alice, points=100, reason="o1", idempotency_key="o1", source=("order", "o1"))
        ledger.debit_points(alice, 70, kind=EntryKind.ADJUST, reason="spent", idempotency_key="spend")
        first = ledger.claw_back(customer=alice, source_type="order", source_id="o1", fraction=1.0, refund_key="r1")
        again = ledger.claw_back(customer=alice, source_type="order", source_id="o1", fraction=1.0, refund_key="r1")

    assert again.pk == first.pk
    assert (first.points_due, first.points_taken, first.points_unrecovered) == (100, 30, 70)
    assert balance(alice) == (0, 0)
    assert Clawback.objects.count() == 1
    assert_ledger_ok()


def test_clawback_of_pending_points(alice, assert_ledger_ok):
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        ledger.grant_points(
            customer=alice, points=100, reason="o2", idempotency_key="o2", source=("order", "o2"),
            pending_until=now + timedelta(days=14),
        )  # fmt: skip
        clawback = ledger.claw_back(customer=alice, source_type="order", source_id="o2", fraction=0.5, refund_key="r")
    assert (clawback.points_due, clawback.points_taken, clawback.points_unrecovered) == (50, 50, 0)
    assert balance(alice) == (0, 50)
    assert_ledger_ok()
    with time_machine.travel(now + timedelta(days=20), tick=False):
        ledger.release_pending_points()
    assert balance(alice) == (50, 0)
    assert_ledger_ok()


def test_verify_ledger_command_clean_and_breach(alice, capsys):
    ledger.grant_points(customer=alice, points=100, reason="a", idempotency_key="a")
    call_command("verify_ledger")
    assert "Ledger OK" in capsys.readouterr().out

    # A write outside rewards.ledger breaks the invariant; the command must notice.
    PointsAccount.objects.filter(customer=alice).update(balance=90)
    with pytest.raises(CommandError) as raised:
        call_command("verify_ledger")
    assert raised.value.returncode == 1
    err = capsys.readouterr().err
    assert "balance 90 != entries 100" in err
    assert "available lots 100 != balance 90" in err
