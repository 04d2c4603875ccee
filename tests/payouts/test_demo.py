from django.contrib.auth import get_user_model

from engagement.models import ProgramStaff
from payouts import demo, services
from payouts.models import Hold, Payout, PayoutApproval, ReconciliationRun, Status
from tests.factories import CustomerFactory


class Bar:
    def update(self, n):
        pass

    def close(self):
        pass


def test_demo_has_payouts_in_every_state_and_is_idempotent(acme):
    CustomerFactory.create_batch(120, program=acme)

    demo.load_demo(acme, lambda **kwargs: Bar())
    demo.load_demo(acme, lambda **kwargs: Bar())

    statuses = set(Payout.objects.filter(program=acme).values_list("status", flat=True))
    assert statuses == set(Status.values)
    waiting = Payout.objects.filter(program=acme, status=Status.PENDING_APPROVAL)
    assert sorted(waiting.values_list("hold", "amount")) == [
        (Hold.APPROVAL, 600),
        (Hold.APPROVAL, 750),
        (Hold.APPROVAL, 900),
        (Hold.VELOCITY, 18),
    ]
    assert Payout.objects.filter(program=acme).count() == 19
    assert ReconciliationRun.objects.filter(program=acme).count() == 1
    # one of them already has approver1's approval: approver2 completes it
    assert list(PayoutApproval.objects.values_list("payout__amount", "user__username", "decision")) == [
        (900, "approver1", "approve")
    ]


def test_demo_approvers_can_complete_four_eyes(acme):
    CustomerFactory.create_batch(40, program=acme)
    demo.load_demo(acme, lambda **kwargs: Bar())
    demo.load_demo(acme, lambda **kwargs: Bar())
    User = get_user_model()

    # Two staff users of acme, created once, who may approve
    approvers = list(User.objects.filter(username__in=demo.APPROVERS).order_by("username"))
    assert [(u.username, u.is_staff, u.is_superuser) for u in approvers] == [
        ("approver1", True, False),
        ("approver2", True, False),
    ]
    assert [services.user_can_approve(user, acme) for user in approvers] == [True, True]
    assert ProgramStaff.objects.filter(user__in=approvers).count() == 2
    assert approvers[1].check_password(demo.APPROVER_PASSWORD)

    # approver2 releases the payout approver1 approved; another takes both of them
    once = Payout.objects.get(program=acme, status=Status.PENDING_APPROVAL, amount=900)
    assert services.approve_payout(once.pk, user=approvers[1]).status == Status.QUEUED
    fresh = Payout.objects.get(program=acme, status=Status.PENDING_APPROVAL, amount=750)
    services.approve_payout(fresh.pk, user=approvers[0])
    assert services.approve_payout(fresh.pk, user=approvers[1]).status == Status.QUEUED


def test_sign_in_lines_name_both_approvers(acme):
    assert demo.sign_in_lines(acme, "http://127.0.0.1:8000") == [
        "approvers: http://127.0.0.1:8000/admin/payouts/payoutreview/   users 'approver1' and 'approver2', "
        "password 'ganjaran-demo' (four eyes: each approves once)"
    ]
