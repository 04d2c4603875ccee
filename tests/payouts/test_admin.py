from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from engagement.models import ProgramStaff
from payouts import services
from payouts.models import FundingAccount, Payout, PayoutAttempt, Status
from tests.payouts.factories import make_payout


@pytest.fixture
def four_eyes(funded_acme):
    settings = services.get_settings(funded_acme)
    settings.approval_threshold = Decimal("100.00")
    settings.four_eyes = True
    settings.save()


def login(client, program, name):
    user = get_user_model().objects.create_user(name, f"{name}@acme.test", "pw", is_staff=True, is_superuser=True)
    ProgramStaff.objects.create(program=program, user=user)
    client.force_login(user)
    return user


def test_review_queue_lists_held_payouts_with_reason(funded_acme, alice, four_eyes, client):
    held = make_payout(alice, amount="300.00")
    make_payout(alice, amount="10.00")
    login(client, funded_acme, "ops")

    page = client.get("/admin/payouts/payoutreview/")

    assert page.status_code == 200
    assert held.reference.encode() in page.content
    assert b"Above the approval threshold of 100.00 MYR." in page.content
    assert page.context["cl"].result_count == 1


def test_admin_approval_action_with_four_eyes(funded_acme, alice, four_eyes, client):
    payout = make_payout(alice, amount="300.00")
    url = "/admin/payouts/payoutreview/"
    action = {"action": "approve", "_selected_action": [payout.pk], "reason": ""}

    login(client, funded_acme, "first")
    client.post(url, action)
    client.post(url, action)  # the same user again: refused
    payout.refresh_from_db()
    assert payout.status == Status.PENDING_APPROVAL

    login(client, funded_acme, "second")
    client.post(url, action)
    payout.refresh_from_db()
    assert payout.status == Status.QUEUED
    assert list(payout.approvals.values_list("user__username", flat=True)) == ["first", "second"]


def test_admin_reject_action_needs_a_reason(funded_acme, alice, four_eyes, client):
    payout = make_payout(alice, amount="300.00")
    login(client, funded_acme, "ops")
    url = "/admin/payouts/payoutreview/"

    client.post(url, {"action": "reject", "_selected_action": [payout.pk], "reason": ""})
    assert Payout.objects.get(pk=payout.pk).status == Status.PENDING_APPROVAL
    client.post(url, {"action": "reject", "_selected_action": [payout.pk], "reason": "Looks like fraud"})

    payout.refresh_from_db()
    assert (payout.status, payout.status_reason) == (Status.CANCELLED, "Rejected: Looks like fraud")


def test_admin_top_up_action(funded_acme, client):
    login(client, funded_acme, "ops")
    account = FundingAccount.objects.get(program=funded_acme)

    client.post(
        "/admin/payouts/fundingaccount/",
        {"action": "record_top_up", "_selected_action": [account.pk], "amount": "250.00", "note": "wire"},
    )

    account.refresh_from_db()
    assert account.balance == Decimal("10250.00")
    assert account.entries.first().note == "wire"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/payouts/payout/",
        "/admin/payouts/fundingaccount/",
        "/admin/payouts/payoutbatch/",
        "/admin/payouts/payoutbatch/upload/",
        "/admin/payouts/reconciliationrun/",
        "/admin/payouts/reconciliationrun/run/",
        "/admin/payouts/provideraccount/add/",
        "/admin/payouts/payoutsettings/",
        "/admin/payouts/sandboxorder/",
    ],
)
def test_admin_pages_render(funded_acme, alice, client, url):
    payout = make_payout(alice)
    login(client, funded_acme, "ops")
    assert client.get(url).status_code == 200
    assert client.get(f"/admin/payouts/payout/{payout.pk}/change/").status_code == 200


def test_the_providers_raw_answer_is_shown_to_superusers_only(funded_acme, alice, client):
    """It can hold a gift card's code (issue 19): staff with the payouts view see the attempt
    without it."""
    payout = make_payout(alice)
    PayoutAttempt.objects.create(
        payout=payout, kind=PayoutAttempt.Kind.CREATE, outcome="succeeded", request={}, response_code=200,
        response_body='{"code": "GIFT-SECRET-7781"}', duration_ms=5,
    )  # fmt: skip
    viewer = get_user_model().objects.create_user("viewer", "viewer@acme.test", "pw", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_payout", "view_payoutattempt"], content_type__app_label="payouts"
        )
    )
    ProgramStaff.objects.create(program=funded_acme, user=viewer)
    client.force_login(viewer)
    page = client.get(f"/admin/payouts/payout/{payout.pk}/change/")
    assert page.status_code == 200
    assert "GIFT-SECRET-7781" not in page.content.decode()
    assert "succeeded" in page.content.decode()
    login(client, funded_acme, "ops")
    assert "GIFT-SECRET-7781" in client.get(f"/admin/payouts/payout/{payout.pk}/change/").content.decode()
