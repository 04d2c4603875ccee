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


def test_a_statement_exported_as_csv_is_reconciled(funded_acme, alice, bob, tmp_path):
    # Given two payouts that succeeded, and the provider's export that disagrees about one
    first, second = succeeded(alice), succeeded(bob)
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "reference,provider_reference,amount,currency,status,created_at\n"
        f"{first.reference},P-1,25.00,MYR,succeeded,2026-12-01T10:00:00Z\n"
        f"{second.reference},P-2,25.00,MYR,failed,2026-12-01T10:05:00Z\n"
        "gjp_elsewhere,P-3,5.00,MYR,succeeded,\n"
    )
    out = StringIO()

    call_command(
        "reconcile_payouts", "--program", "acme", "--provider", "sandbox", "--statement", str(statement), stdout=out
    )

    lines = out.getvalue().splitlines()
    assert lines[0] == "acme/sandbox: 1 matched, 2 mismatched"
    assert [line.split()[:2] for line in lines[1:]] == [
        ["status", second.reference],
        ["unknown_to_us", "gjp_elsewhere"],
    ]


def test_a_bad_statement_file_names_every_bad_line_and_stores_nothing(funded_acme, alice, tmp_path):
    from payouts.models import ReconciliationRun

    succeeded(alice)
    statement = tmp_path / "statement.csv"
    statement.write_text(
        "reference,provider_reference,amount,currency,status\ngjp_a,P-1,twenty,MYR,succeeded\ngjp_b,P-2,5.00,MYR,paid\n"
    )

    with pytest.raises(CommandError) as raised:
        call_command("reconcile_payouts", "--program", "acme", "--provider", "sandbox", "--statement", str(statement))

    assert str(raised.value) == (
        f"Cannot use {statement}: line 2: amount 'twenty' is not a number; line 3: status 'paid' is not one of "
        "pending, succeeded, failed, cancelled, reversed"
    )
    assert ReconciliationRun.objects.count() == 0


def test_the_nightly_run_emails_staff_when_something_does_not_match(funded_acme, alice, mailoutbox):
    from django.contrib.auth import get_user_model

    from engagement.models import ProgramStaff

    staff = get_user_model().objects.create_user("payouts", "payouts@acme.test", "pw", is_staff=True)
    ProgramStaff.objects.create(user=staff, program=funded_acme)
    payout = succeeded(alice)
    SandboxOrder.objects.filter(external_id=payout.reference).update(state="failed")

    [run] = reconciliation.reconcile_recent(days=1, now=timezone.now() + timedelta(minutes=1))

    assert run.mismatch_count == 1
    [mail] = mailoutbox
    assert mail.to == ["payouts@acme.test"]
    assert mail.subject == "[Ganjaran] Payout reconciliation: 1 mismatch(es) at sandbox for Acme"
    assert f"status: {payout.reference} (succeeded) Provider says failed." in mail.body
