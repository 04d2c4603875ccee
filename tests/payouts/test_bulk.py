from decimal import Decimal

from django.contrib.auth import get_user_model

from payouts import bulk
from payouts.models import Payout, PayoutBatch, Status

GOOD = b"""customer,amount,method,email,vpa,reference
alice,10.00,paypal,alice@example.com,,r-1
bob,12.50,upi,,bob@okaxis,r-2
"""
BAD = b"""customer,amount,method,email,vpa
alice,10.00,paypal,alice@example.com,
nobody,5.00,paypal,x@example.com,
bob,-3,upi,,bob@okaxis
bob,4.00,upi,,not-a-vpa
alice,4.00,cheque,,
"""


def test_bad_rows_are_reported_and_nothing_is_created(funded_acme, alice, bob):
    plan = bulk.parse_csv(funded_acme, BAD)

    assert [(e.line, e.field, e.message) for e in plan.errors] == [
        (3, "customer", "Unknown customer 'nobody'."),
        (4, "amount", "amount must be positive."),
        (5, "vpa", "Enter a UPI address such as name@bank."),
        (6, "method", "Use one of gift_card, bank_transfer, upi, paypal, voucher."),
    ]
    try:
        bulk.create_batch(funded_acme, plan)
    except Exception as exc:  # noqa: BLE001
        assert exc.code == "invalid_file"
    assert (Payout.objects.count(), PayoutBatch.objects.count()) == (0, 0)


def test_missing_columns_are_reported(funded_acme):
    plan = bulk.parse_csv(funded_acme, b"customer,amount\nalice,1.00\n")
    assert [(e.line, e.message) for e in plan.errors] == [(1, "Missing column(s): method.")]


def test_valid_file_creates_every_payout_and_shows_progress(funded_acme, alice, bob):
    plan = bulk.parse_csv(funded_acme, GOOD)
    assert plan.errors == [] and plan.total == Decimal("22.50")

    batch = bulk.create_batch(funded_acme, plan, filename="march.csv")

    payouts = list(
        batch.payouts.order_by("id").values_list("customer__external_id", "amount", "status", "source", "source_ref")
    )
    assert payouts == [
        ("alice", Decimal("10.00"), Status.QUEUED, "bulk_upload", "r-1"),
        ("bob", Decimal("12.50"), Status.QUEUED, "bulk_upload", "r-2"),
    ]
    assert bulk.batch_progress(batch) == {"counts": {"queued": 2}, "done": 0, "total": 2, "percent": 0}

    from payouts import processing

    for payout in batch.payouts.all():
        processing.process_payout(payout.pk)
        processing.process_payout(payout.pk, now=payout.created_at.replace(year=2100))
    assert bulk.batch_progress(batch)["percent"] == 100


def test_admin_upload_shows_the_report_then_creates(funded_acme, alice, bob, client):
    admin = get_user_model().objects.create_superuser("root", "root@acme.test", "pw")
    client.force_login(admin)
    url = "/admin/payouts/payoutbatch/upload/"
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = client.post(url, {"program": funded_acme.pk, "file": SimpleUploadedFile("bad.csv", BAD)})
    assert bad.status_code == 200
    assert b"Unknown customer" in bad.content
    assert Payout.objects.count() == 0

    good = client.post(url, {"program": funded_acme.pk, "file": SimpleUploadedFile("good.csv", GOOD)})
    batch = PayoutBatch.objects.get()
    assert good.status_code == 302 and good.url == f"/admin/payouts/payoutbatch/{batch.pk}/change/"
    assert batch.payouts.count() == 2
    assert set(batch.payouts.values_list("requested_by", flat=True)) == {admin.pk}
    page = client.get(good.url)
    assert page.status_code == 200
    assert b"0 of 2" in page.content
