import importlib
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from payouts import states
from payouts.models import FundingAccount, Payout, PayoutStatusChange, Status
from tests.payouts.factories import make_payout

ALL = list(Status)


def payout_in(status, customer):
    """A payout brought to `status` through legal moves only."""
    payout = make_payout(customer)  # funded -> queued
    path = {
        Status.PENDING_APPROVAL: [],
        Status.QUEUED: [],
        Status.PROCESSING: [Status.PROCESSING],
        Status.SUCCEEDED: [Status.PROCESSING, Status.SUCCEEDED],
        Status.FAILED: [Status.PROCESSING, Status.FAILED],
        Status.CANCELLED: [Status.CANCELLED],
        Status.REVERSED: [Status.PROCESSING, Status.SUCCEEDED, Status.REVERSED],
    }[status]
    if status == Status.PENDING_APPROVAL:
        payout = make_payout(customer, amount="20000.00")  # more than the funds: held
    for step in path:
        assert states.transition(payout, step)
    payout.refresh_from_db()
    assert payout.status == status
    return payout


def test_machine_matches_the_database_trigger():
    migration = importlib.import_module("payouts.migrations.0002_status_transition_trigger")
    assert sorted(migration.ALLOWED) == states.allowed_pairs()


@pytest.mark.parametrize(("source", "target"), [tuple(pair) for pair in states.allowed_pairs()])
def test_each_legal_transition(funded_acme, alice, source, target):
    payout = payout_in(Status(source), alice)
    history = PayoutStatusChange.objects.filter(payout=payout).count()

    assert states.transition(payout, target, reason="test") is True

    payout.refresh_from_db()
    assert payout.status == target
    assert PayoutStatusChange.objects.filter(payout=payout).count() == history + 1
    last = PayoutStatusChange.objects.filter(payout=payout).last()
    assert (last.from_status, last.to_status) == (source, target)


ILLEGAL = [(a, b) for a in ALL for b in ALL if a != b and (str(a), str(b)) not in set(states.allowed_pairs())]


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_each_illegal_transition_is_refused_and_changes_nothing(funded_acme, alice, source, target):
    payout = payout_in(source, alice)
    history = PayoutStatusChange.objects.filter(payout=payout).count()

    with pytest.raises(states.IllegalTransition):
        states.transition(payout, target)

    payout.refresh_from_db()
    assert payout.status == source
    assert PayoutStatusChange.objects.filter(payout=payout).count() == history


@pytest.mark.parametrize(("source", "target"), [(Status.SUCCEEDED, Status.QUEUED), (Status.FAILED, Status.SUCCEEDED)])
def test_database_refuses_an_illegal_move_that_bypasses_the_machine(funded_acme, alice, source, target):
    payout = payout_in(source, alice)

    with pytest.raises(DatabaseError), transaction.atomic():
        Payout.objects.filter(pk=payout.pk).update(status=target)

    payout.refresh_from_db()
    assert payout.status == source


def test_database_refuses_a_payout_created_in_a_later_state(funded_acme, alice):
    payout = make_payout(alice)
    with pytest.raises(DatabaseError), transaction.atomic():
        Payout.objects.create(
            program=payout.program,
            customer=alice,
            amount=Decimal("1.00"),
            currency="MYR",
            method="voucher",
            provider="sandbox",
            idempotency_key="direct",
            reference="gjp_direct",
            source="api",
            status=Status.SUCCEEDED,
        )
    assert not Payout.objects.filter(idempotency_key="direct").exists()


def test_a_stale_mover_loses_without_side_effects(funded_acme, alice, final_calls):
    payout = payout_in(Status.PROCESSING, alice)
    stale = Payout.objects.get(pk=payout.pk)
    assert states.transition(payout, Status.SUCCEEDED)

    assert states.transition(stale, Status.FAILED) is False

    payout.refresh_from_db()
    assert payout.status == Status.SUCCEEDED
    assert final_calls == [(payout.pk, "succeeded")]
    assert FundingAccount.objects.get(program=funded_acme).balance == Decimal("9975.00")
