from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payouts import processing, reconciliation
from payouts.models import SandboxOrder
from tests.payouts.factories import make_payout


def succeeded(customer, **kwargs):
    payout = make_payout(customer, **kwargs)
    processing.process_payout(payout.pk)
    processing.process_payout(payout.pk, now=timezone.now() + timedelta(hours=1))
    payout.refresh_from_db()
    return payout


def period():
    now = timezone.now()
    return now - timedelta(days=1), now + timedelta(minutes=1)


def test_matching_records_report_no_mismatch(funded_acme, alice, bob):
    succeeded(alice)
    succeeded(bob)

    run = reconciliation.reconcile(funded_acme, "sandbox", *period())

    assert (run.matched, run.mismatches) == (2, [])


def test_mismatches_are_listed(funded_acme, alice, bob):
    ok = succeeded(alice)
    disputed = succeeded(bob)
    SandboxOrder.objects.filter(external_id=disputed.reference).update(state="failed")
    SandboxOrder.objects.filter(external_id=ok.reference).update(amount="99.00")
    SandboxOrder.objects.create(
        program=funded_acme,
        external_id="gjp_stranger",
        order_id="SBX-X",
        amount="5.00",
        currency="MYR",
        method="paypal",
        placed=True,
        state="complete",
        complete_at=timezone.now(),
    )
    lost = succeeded(alice, amount="7.00")
    SandboxOrder.objects.filter(external_id=lost.reference).delete()

    run = reconciliation.reconcile(funded_acme, "sandbox", *period())

    assert run.matched == 0
    assert [(m["kind"], m["reference"]) for m in run.mismatches] == [
        ("amount", ok.reference),
        ("status", disputed.reference),
        ("missing_at_provider", lost.reference),
        ("unknown_to_us", "gjp_stranger"),
    ]
    assert run.mismatches[0]["detail"] == "Ours 25.00 MYR, theirs 99.00 MYR."


def test_command_prints_mismatches_and_fails_when_strict(funded_acme, alice):
    payout = succeeded(alice)
    SandboxOrder.objects.filter(external_id=payout.reference).update(state="failed")
    out = StringIO()

    call_command("reconcile_payouts", "--program", "acme", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "acme/sandbox: 0 matched, 1 mismatched"
    assert lines[1].split() == ["status", payout.reference, "succeeded", "Provider", "says", "failed."]
    with pytest.raises(CommandError):
        call_command("reconcile_payouts", "--program", "acme", "--strict", stdout=StringIO())


def test_admin_reconciliation_view_lists_mismatches(funded_acme, alice, client):
    from django.contrib.auth import get_user_model

    payout = succeeded(alice)
    SandboxOrder.objects.filter(external_id=payout.reference).update(state="failed")
    client.force_login(get_user_model().objects.create_superuser("root", "r@x.test", "pw"))
    start, end = period()

    response = client.post(
        "/admin/payouts/reconciliationrun/run/",
        {
            "program": funded_acme.pk,
            "provider": "sandbox",
            "start": start.strftime("%Y-%m-%d %H:%M"),
            "end": end.strftime("%Y-%m-%d %H:%M"),
        },
    )

    assert response.status_code == 302
    page = client.get(response.url)
    assert payout.reference.encode() in page.content
    assert b"Provider says failed." in page.content
