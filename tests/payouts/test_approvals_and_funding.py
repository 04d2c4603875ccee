from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from engagement.models import ProgramStaff
from payouts import services
from payouts.models import FundingAccount, FundingEntry, Hold, PayoutApproval, Status
from payouts.services import PayoutError
from tests.payouts.factories import make_payout


def staff(program, name, **extra):
    """A staff user of `program` who may approve payouts (the approve_payout permission)."""
    user = get_user_model().objects.create_user(name, f"{name}@acme.test", "pw", is_staff=True, **extra)
    user.user_permissions.add(Permission.objects.get(codename="approve_payout"))
    ProgramStaff.objects.create(program=program, user=user)
    return user


def balance(program):
    return FundingAccount.objects.get(program=program, currency="MYR").balance


@pytest.fixture
def threshold(funded_acme):
    settings = services.get_settings(funded_acme)
    settings.approval_threshold = Decimal("100.00")
    settings.save()
    return settings


def test_payout_above_threshold_waits_for_approval_then_is_queued(funded_acme, alice, threshold):
    ops = staff(funded_acme, "ops")
    payout = make_payout(alice, amount="150.00")
    payout.refresh_from_db()
    assert (payout.status, payout.hold, payout.approvals_required) == (Status.PENDING_APPROVAL, Hold.APPROVAL, 1)
    assert payout.hold_detail == "Above the approval threshold of 100.00 MYR."
    assert balance(funded_acme) == Decimal("10000.00")  # nothing reserved while held

    services.approve_payout(payout.pk, user=ops)

    payout.refresh_from_db()
    assert (payout.status, payout.hold) == (Status.QUEUED, "")
    assert balance(funded_acme) == Decimal("9850.00")


def test_payout_at_threshold_is_not_held(funded_acme, alice, threshold):
    assert make_payout(alice, amount="100.00").status == Status.QUEUED


def test_four_eyes_needs_two_different_staff_users(funded_acme, alice, threshold):
    threshold.four_eyes = True
    threshold.save()
    first, second = staff(funded_acme, "first"), staff(funded_acme, "second")
    payout = make_payout(alice, amount="500.00")

    services.approve_payout(payout.pk, user=first)
    payout.refresh_from_db()
    assert (payout.status, payout.approvals_required) == (Status.PENDING_APPROVAL, 2)
    with pytest.raises(PayoutError) as error:
        services.approve_payout(payout.pk, user=first)
    assert error.value.code == "four_eyes"
    assert PayoutApproval.objects.filter(payout=payout).count() == 1

    services.approve_payout(payout.pk, user=second)
    payout.refresh_from_db()
    assert payout.status == Status.QUEUED


def test_requester_cannot_approve_and_outsiders_cannot_either(funded_acme, alice, threshold, globex):
    requester = staff(funded_acme, "requester")
    outsider = staff(globex, "outsider")
    payout = make_payout(alice, amount="500.00", requested_by=requester)

    for user, code in [(requester, "four_eyes"), (outsider, "permission_denied")]:
        with pytest.raises(PayoutError) as error:
            services.approve_payout(payout.pk, user=user)
        assert error.value.code == code
    payout.refresh_from_db()
    assert payout.status == Status.PENDING_APPROVAL
    assert PayoutApproval.objects.count() == 0


def test_rejection_cancels_with_the_reason(funded_acme, alice, threshold, final_calls):
    ops = staff(funded_acme, "ops")
    payout = make_payout(alice, amount="500.00")

    with pytest.raises(PayoutError):
        services.reject_payout(payout.pk, user=ops, reason="  ")
    services.reject_payout(payout.pk, user=ops, reason="Duplicate claim")

    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (Status.CANCELLED, "Rejected: Duplicate claim")
    assert final_calls == [(payout.pk, "cancelled")]
    assert balance(funded_acme) == Decimal("10000.00")


def test_no_payout_is_queued_beyond_available_funds(acme, alice, bob):
    services.record_funding_top_up(acme, "MYR", Decimal("50.00"))
    first = make_payout(alice, amount="30.00")
    second = make_payout(bob, amount="30.00")

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.QUEUED
    assert (second.status, second.hold) == (Status.PENDING_APPROVAL, Hold.FUNDS)
    assert second.hold_detail == "Needs 30.00 MYR; 20.00 available."
    assert balance(acme) == Decimal("20.00")

    services.record_funding_top_up(acme, "MYR", Decimal("5.00"))
    assert services.release_funds_holds(acme.pk, "MYR") == 0  # 25 < 30: still held
    services.record_funding_top_up(acme, "MYR", Decimal("5.00"))
    assert services.release_funds_holds(acme.pk, "MYR") == 1

    second.refresh_from_db()
    assert (second.status, second.hold) == (Status.QUEUED, "")
    assert balance(acme) == Decimal("0.00")


def test_funds_cannot_be_approved_away(acme, alice):
    ops = staff(acme, "ops")
    payout = make_payout(alice, amount="30.00")  # no funds at all
    with pytest.raises(PayoutError) as error:
        services.approve_payout(payout.pk, user=ops)
    assert error.value.code == "not_pending"


def test_low_funds_alert_email(acme, alice, mailoutbox, django_capture_on_commit_callbacks):
    staff(acme, "ops")
    services.record_funding_top_up(acme, "MYR", Decimal("100.00"))
    FundingAccount.objects.filter(program=acme).update(low_balance_threshold=Decimal("50.00"))

    with django_capture_on_commit_callbacks(execute=True):
        make_payout(alice, amount="60.00", enqueue=False)
    with django_capture_on_commit_callbacks(execute=True):
        make_payout(alice, amount="10.00", enqueue=False)

    assert [(m.subject, m.to) for m in mailoutbox] == [("[Ganjaran] Low payout funds: Acme", ["ops@acme.test"])]
    assert "down to 40.00" in mailoutbox[0].body


def test_funding_ledger_records_every_change(acme, alice):
    services.record_funding_top_up(acme, "MYR", Decimal("100.00"), note="wire 1")
    payout = make_payout(alice, amount="40.00")
    services.cancel_payout(payout.pk, reason="customer asked")

    rows = list(FundingEntry.objects.order_by("id").values_list("kind", "amount", "balance_after", "payout_id"))
    assert rows == [
        ("top_up", Decimal("100.00"), Decimal("100.00"), None),
        ("reserve", Decimal("-40.00"), Decimal("60.00"), payout.pk),
        ("release", Decimal("40.00"), Decimal("100.00"), payout.pk),
    ]


def test_daily_limit_holds_for_review_with_reason(funded_acme, alice):
    settings = services.get_settings(funded_acme)
    settings.customer_daily_limit = Decimal("100.00")
    settings.save()

    make_payout(alice, amount="60.00")
    held = make_payout(alice, amount="50.00")

    held.refresh_from_db()
    assert (held.status, held.hold) == (Status.PENDING_APPROVAL, Hold.DAILY_LIMIT)
    assert held.hold_detail == "110.00 MYR today for this customer (daily limit 100.00)."
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        assert make_payout(alice, amount="50.00").status == Status.QUEUED


def test_velocity_check_holds_the_extra_payout_for_review(funded_acme, alice):
    settings = services.get_settings(funded_acme)
    settings.velocity_max_count = 2
    settings.save()

    results = [make_payout(alice, amount="5.00") for _ in range(3)]

    assert [p.status for p in results] == [Status.QUEUED, Status.QUEUED, Status.PENDING_APPROVAL]
    held = results[2]
    held.refresh_from_db()
    assert (held.hold, held.hold_detail) == (Hold.VELOCITY, "3 payouts in the last 60 minutes (limit 2).")


def test_destination_shared_between_customers_is_held(funded_acme, alice, bob):
    make_payout(alice, method="upi", destination={"vpa": "same.person@okaxis"})
    held = make_payout(bob, method="upi", destination={"vpa": "Same.Person@okaxis"})

    held.refresh_from_db()
    assert (held.hold, held.hold_detail) == (Hold.VELOCITY, "Destination already used by another customer (alice).")
