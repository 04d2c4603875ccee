"""Ledger entries are append-only in PostgreSQL itself (issue 13, item 8): a trigger refuses
UPDATE and DELETE; only `reason` (scrubbed by erasure) and `actor` (a deleted staff user)
may change."""

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from rewards import ledger
from rewards.models import LedgerEntry, PointsAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(alice):
    return ledger.grant_points(customer=alice, points=100, reason="Welcome", idempotency_key="welcome")


@pytest.mark.parametrize(
    "change",
    [
        {"points": 1_000_000},
        {"balance_after": 0},
        {"kind": "adjust"},
        {"idempotency_key": "other"},
        {"expires_at": None},
    ],
)
def test_updating_a_protected_column_is_refused(entry, change):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(**change)

    stored = LedgerEntry.objects.get(pk=entry.pk)
    assert (stored.points, stored.balance_after, stored.kind, stored.idempotency_key) == (100, 100, "earn", "welcome")


def test_deleting_an_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM rewards_ledgerentry WHERE id = %s", [entry.pk])

    assert LedgerEntry.objects.filter(pk=entry.pk).count() == 1


def test_only_the_reason_and_the_actor_may_change(entry, alice):
    staff = get_user_model().objects.create_user("sam", "sam@example.com", "pw", is_staff=True)
    adjusted = ledger.adjust_points(customer=alice, points=-10, reason="fix", actor=staff, idempotency_key="adj")

    LedgerEntry.objects.filter(pk=entry.pk).update(reason="Welcome gift for [erased]")
    staff.delete()  # on_delete=SET_NULL rewrites the entry's actor

    assert LedgerEntry.objects.get(pk=entry.pk).reason == "Welcome gift for [erased]"
    assert LedgerEntry.objects.get(pk=adjusted.pk).actor_id is None
    assert PointsAccount.objects.get(customer=alice).balance == 90


def test_a_dba_can_purge_explicitly(entry):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL ganjaran.ledger_purge = 'on'")
        cursor.execute("DELETE FROM rewards_pointslot WHERE entry_id = %s", [entry.pk])
        cursor.execute("DELETE FROM rewards_ledgerentry WHERE id = %s", [entry.pk])

    assert LedgerEntry.objects.filter(pk=entry.pk).count() == 0
