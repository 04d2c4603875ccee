"""Approve and Reject: the services' refusals change nothing, and the admin's buttons on a
payout's page and in the review queue go through them (POST only, CSRF, permission,
tenancy, four eyes)."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from payouts import services
from payouts.models import FundingAccount, Hold, Payout, PayoutApproval, PayoutStatusChange, Status
from payouts.services import PayoutError
from tests.payouts.factories import make_approver, make_payout

QUEUE = "/admin/payouts/payoutreview/"


@pytest.fixture
def four_eyes(funded_acme):
    """acme: payouts above 100.00 MYR need two different approvers."""
    settings = services.get_settings(funded_acme)
    settings.approval_threshold = Decimal("100.00")
    settings.four_eyes = True
    settings.save()
    return settings


@pytest.fixture
def held(alice, four_eyes):
    return make_payout(alice, amount="300.00")


@pytest.fixture
def first(funded_acme):
    return make_approver(funded_acme, "first")


@pytest.fixture
def second(funded_acme):
    return make_approver(funded_acme, "second")


def snapshot(payout):
    """Everything an approval or rejection could change."""
    payout = Payout.objects.get(pk=payout.pk)
    return {
        "status": payout.status,
        "hold": payout.hold,
        "status_reason": payout.status_reason,
        "decisions": list(PayoutApproval.objects.filter(payout=payout).values_list("user__username", "decision")),
        "history": PayoutStatusChange.objects.filter(payout=payout).count(),
        "funds": FundingAccount.objects.get(program=payout.program, currency=payout.currency).balance,
    }


def refused(call, code):
    with pytest.raises(PayoutError) as error:
        call()
    assert error.value.code == code
    return error.value


# --- services: each refusal leaves everything as it was ----------------------------------


def test_the_same_user_cannot_approve_twice(held, first):
    services.approve_payout(held.pk, user=first)
    before = snapshot(held)

    error = refused(lambda: services.approve_payout(held.pk, user=first), "four_eyes")

    assert str(error.message) == "You already approved this payout; another staff user must."
    assert snapshot(held) == before
    assert before["decisions"] == [("first", "approve")]
    assert before["status"] == Status.PENDING_APPROVAL


def test_second_approver_releases_the_payout(held, first, second):
    services.approve_payout(held.pk, user=first)
    services.approve_payout(held.pk, user=second)

    after = snapshot(held)
    assert (after["status"], after["hold"]) == (Status.QUEUED, "")
    assert after["decisions"] == [("first", "approve"), ("second", "approve")]
    assert after["funds"] == Decimal("9700.00")
    move = PayoutStatusChange.objects.filter(payout=held).last()
    assert (move.from_status, move.to_status, move.actor) == (Status.PENDING_APPROVAL, Status.QUEUED, second)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reject_without_a_reason_is_refused(held, first, reason):
    before = snapshot(held)

    error = refused(lambda: services.reject_payout(held.pk, user=first, reason=reason), "required")

    assert (str(error.message), error.attr) == ("A reason is required to reject a payout.", "reason")
    assert snapshot(held) == before


def test_a_reason_longer_than_300_characters_is_refused(held, first):
    before = snapshot(held)

    refused(lambda: services.reject_payout(held.pk, user=first, reason="x" * 301), "too_long")
    refused(lambda: services.approve_payout(held.pk, user=first, reason="x" * 301), "too_long")

    assert snapshot(held) == before


def test_a_payout_not_waiting_for_approval_cannot_be_approved_or_rejected(alice, four_eyes, first):
    queued = make_payout(alice, amount="50.00")
    cancelled = make_payout(alice, amount="300.00")
    services.cancel_payout(cancelled.pk, reason="test")
    for payout in (queued, cancelled):
        before = snapshot(payout)

        refused(lambda p=payout: services.approve_payout(p.pk, user=first), "not_pending")
        refused(lambda p=payout: services.reject_payout(p.pk, user=first, reason="No"), "not_pending")

        assert snapshot(payout) == before
    assert (queued.status, Payout.objects.get(pk=cancelled.pk).status) == (Status.QUEUED, Status.CANCELLED)


def test_a_payout_held_for_funds_cannot_be_approved(acme, alice):
    payout = make_payout(alice, amount="50.00")  # acme has no funds
    assert (payout.status, payout.hold) == (Status.PENDING_APPROVAL, Hold.FUNDS)
    before = snapshot(payout)

    refused(lambda: services.approve_payout(payout.pk, user=make_approver(acme, "ops")), "not_pending")

    assert snapshot(payout) == before


def test_staff_of_another_program_cannot_decide(held, globex):
    outsider = make_approver(globex, "outsider")
    before = snapshot(held)

    error = refused(lambda: services.approve_payout(held.pk, user=outsider), "permission_denied")
    refused(lambda: services.reject_payout(held.pk, user=outsider, reason="Not mine"), "permission_denied")

    assert str(error.message) == "This payout belongs to a program you do not manage."
    assert snapshot(held) == before


def test_staff_without_the_approve_permission_cannot_decide(held, funded_acme):
    viewer = make_approver(funded_acme, "viewer", approve=False)
    before = snapshot(held)

    error = refused(lambda: services.approve_payout(held.pk, user=viewer), "permission_denied")
    refused(lambda: services.reject_payout(held.pk, user=viewer, reason="No"), "permission_denied")

    assert str(error.message) == "You do not have permission to approve or reject payouts."
    assert snapshot(held) == before


def test_an_approver_cannot_then_reject(held, first):
    services.approve_payout(held.pk, user=first)
    before = snapshot(held)

    refused(lambda: services.reject_payout(held.pk, user=first, reason="Changed my mind"), "already_decided")

    assert snapshot(held) == before


# --- the admin ------------------------------------------------------------------------------


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def texts(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def change_url(payout, model="payout"):
    return f"/admin/payouts/{model}/{payout.pk}/change/"


def test_payout_page_has_approve_and_reject_and_no_save(held, first):
    page = signed_in(first).get(change_url(held)).content.decode()

    assert 'data-testid="approvals-progress">0 of 2 approvals — 2 different staff users must approve.</p>' in page
    assert f'action="/admin/payouts/payout/{held.pk}/approve/"' in page
    assert f'action="/admin/payouts/payout/{held.pk}/reject/"' in page
    assert 'name="_save"' not in page
    assert "Above the approval threshold of 100.00 MYR." in page


def test_four_eyes_through_the_payout_page(held, first, second):
    # Given the first approver approves on the payout's page
    client = signed_in(first)
    response = client.post(f"/admin/payouts/payout/{held.pk}/approve/", {"next": change_url(held)})

    # Then the page says one more approver is needed, and offers the first no second go
    assert response.status_code == 302 and response.url == change_url(held)
    assert texts(response) == [f"Payout {held.reference}: 1 of 2 approvals — another staff user must approve."]
    page = client.get(change_url(held)).content.decode()
    assert "1 of 2 approvals — another staff user must approve." in page
    assert "Approved by first on" in page
    assert "You approved this payout; another staff user must approve it." in page
    assert f'action="/admin/payouts/payout/{held.pk}/approve/"' not in page

    # When the first tries again anyway: refused, nothing changed
    before = snapshot(held)
    again = client.post(f"/admin/payouts/payout/{held.pk}/approve/")
    assert texts(again) == [f"Payout {held.reference}: You already approved this payout; another staff user must."]
    assert snapshot(held) == before

    # When another staff user approves: released
    response = signed_in(second).post(f"/admin/payouts/payout/{held.pk}/approve/")
    assert texts(response) == [f"Payout {held.reference} approved (2 of 2): released for payment."]
    assert snapshot(held)["status"] == Status.QUEUED


def test_approve_answers_post_only(held, first):
    before = snapshot(held)

    response = signed_in(first).get(f"/admin/payouts/payout/{held.pk}/approve/")

    assert (response.status_code, response.url) == (302, change_url(held))
    assert snapshot(held) == before


def test_approve_without_csrf_token_is_refused(held, first):
    client = Client(enforce_csrf_checks=True)
    client.force_login(first)
    before = snapshot(held)

    response = client.post(f"/admin/payouts/payout/{held.pk}/approve/")

    assert response.status_code == 403
    assert snapshot(held) == before


def test_reject_needs_a_reason_then_cancels(held, first):
    client = signed_in(first)
    before = snapshot(held)

    empty = client.post(f"/admin/payouts/payout/{held.pk}/reject/", {"reason": "  ", "next": change_url(held)})

    assert empty.status_code == 200
    assert "Give a reason for rejecting this payout." in empty.content.decode()
    assert snapshot(held) == before

    done = client.post(f"/admin/payouts/payout/{held.pk}/reject/", {"reason": "Duplicate claim", "next": QUEUE})

    assert (done.status_code, done.url) == (302, QUEUE)
    assert texts(done) == [f"Payout {held.reference} rejected and cancelled: Duplicate claim"]
    after = snapshot(held)
    assert (after["status"], after["status_reason"]) == (Status.CANCELLED, "Rejected: Duplicate claim")
    assert after["decisions"] == [("first", "reject")]


def test_reject_page_shows_the_reason_form(held, first):
    page = signed_in(first).get(f"/admin/payouts/payoutreview/{held.pk}/reject/?next={QUEUE}").content.decode()

    assert '<label for="id_reason">Reason for rejecting</label>' in page
    assert f'<input type="hidden" name="next" value="{QUEUE}">' in page
    assert 'data-testid="approve"' not in page


def test_next_outside_the_site_is_ignored(held, first):
    response = signed_in(first).post(f"/admin/payouts/payout/{held.pk}/approve/", {"next": "https://evil.example/"})

    assert response.url == change_url(held)


def test_staff_of_another_program_cannot_reach_the_payout(held, globex):
    client = signed_in(make_approver(globex, "outsider"))
    before = snapshot(held)

    approve = client.post(f"/admin/payouts/payout/{held.pk}/approve/")
    reject = client.post(f"/admin/payouts/payout/{held.pk}/reject/", {"reason": "Not mine"})

    assert (approve.status_code, approve.url) == (302, "/admin/")
    assert (reject.status_code, reject.url) == (302, "/admin/")
    assert snapshot(held) == before


def test_queue_rows_have_approve_and_reject_for_approvers(held, first):
    page = signed_in(first).get(QUEUE).content.decode()

    assert f'formaction="/admin/payouts/payoutreview/{held.pk}/approve/"' in page
    assert f'href="/admin/payouts/payoutreview/{held.pk}/reject/?next=%2Fadmin%2Fpayouts%2Fpayoutreview%2F"' in page
    assert "0 of 2 approvals" in page
    assert '<option value="approve">' in page


def test_queue_shows_no_decisions_to_staff_without_the_permission(held, funded_acme):
    page = signed_in(make_approver(funded_acme, "viewer", approve=False)).get(QUEUE).content.decode()

    assert held.reference[:12] in page
    assert "/approve/" not in page
    assert '<option value="approve">' not in page
    assert '<option value="cancel">' not in page  # cancelling needs the change permission


def test_queue_approve_button_returns_to_the_queue(held, first, second):
    signed_in(first).post(f"/admin/payouts/payoutreview/{held.pk}/approve/", {"next": QUEUE})
    page = signed_in(first).get(QUEUE).content.decode()
    assert "You approved; another staff user must." in page

    response = signed_in(second).post(f"/admin/payouts/payoutreview/{held.pk}/approve/", {"next": QUEUE})

    assert (response.status_code, response.url) == (302, QUEUE)
    assert snapshot(held)["status"] == Status.QUEUED


def test_reject_action_without_reason_changes_nothing(held, first):
    before = snapshot(held)

    response = signed_in(first).post(QUEUE, {"action": "reject", "_selected_action": [held.pk], "reason": ""})

    assert texts(response) == ["Type the reason for rejecting in the Reason box, then run the action again."]
    assert snapshot(held) == before
