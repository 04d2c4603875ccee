"""Bulk rewarding from a CSV (rewards.bulk_grants): whole-file validation, all-or-nothing
creation, idempotency per file, scheduled sends, batches through a real worker."""

from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from engagement.models import Customer
from rewards import bulk_grants
from rewards.models import BulkGrant, BulkGrantRow, LedgerEntry, PointsAccount, Redemption
from tests.conftest import wait_for
from tests.rewards.factories import RewardItemFactory


def csv_bytes(*lines, header="customer,points,reward,reason,send_at"):
    return ("\n".join([header, *lines]) + "\n").encode()


def balances(program):
    return dict(PointsAccount.objects.filter(program=program).values_list("customer__external_id", "balance"))


@pytest.mark.django_db
def test_a_valid_file_grants_each_row_once(acme, alice, bob):
    mug = RewardItemFactory(program=acme, title_en="Mug", stock=5)
    data = csv_bytes("alice,150,,Survey thank-you,", "bob,40,,Survey thank-you,", f"bob,,{mug.pk},Top reviewer,")
    plan = bulk_grants.read_grants_csv(acme, data)
    assert (plan.errors, plan.points_total, len(plan.rows)) == ([], 190, 3)

    bulk, created = bulk_grants.create_bulk_grant(acme, plan, filename="thanks.csv")
    assert created and bulk.status == BulkGrant.Status.SCHEDULED

    assert bulk_grants.grant_due_rows(bulk.pk) == 3
    assert bulk_grants.grant_due_rows(bulk.pk) == 0  # a second run grants nothing

    bulk.refresh_from_db()
    assert (bulk.status, bulk.rows_done, bulk.rows_failed) == (BulkGrant.Status.COMPLETED, 3, 0)
    assert balances(acme) == {"alice": 150, "bob": 40}
    entry = LedgerEntry.objects.get(customer=alice)
    assert (entry.reason, entry.idempotency_key) == ("Survey thank-you", f"bulk-grant:{bulk.pk}:2")
    redemption = Redemption.objects.get(customer=bob)
    assert (redemption.item, redemption.points) == (mug, 0)
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "Ledger OK" in out.getvalue()


@pytest.mark.django_db
def test_one_bad_row_reports_every_problem_and_creates_nothing(acme, alice):
    inactive = RewardItemFactory(program=acme, title_en="Old mug", active=False)
    data = csv_bytes(
        "alice,100,,Thanks,",
        "nobody,100,,Thanks,",
        "alice,-5,,Thanks,",
        "alice,10,99999,Thanks,",
        f"alice,,{inactive.pk},Thanks,",
        "alice,10,,,tomorrow",
    )

    plan = bulk_grants.read_grants_csv(acme, data)

    assert [(e.line, e.field, e.message) for e in plan.errors] == [
        (3, "customer", "Unknown customer 'nobody'."),
        (4, "points", "Points are a whole number from 1 to 10,000,000."),
        (5, "points", "Give either points or a reward, not both or neither."),
        (6, "reward", "The reward 'Old mug' is not active."),
        (7, "reason", "A reason of 1 to 200 characters is required."),
        (7, "send_at", "Use an RFC 3339 time with offset or a date (YYYY-MM-DD)."),
    ]
    with pytest.raises(bulk_grants.RewardsError):
        bulk_grants.create_bulk_grant(acme, plan)
    assert (BulkGrant.objects.count(), BulkGrantRow.objects.count(), LedgerEntry.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"customer,reason\nalice,x\n", "Missing column(s): points or reward."),
        (b"customer,points,reason\n", "The file has no rows."),
        (b"\xff\xfe", "The file must be UTF-8 text."),
    ],
)
def test_unreadable_files_are_refused(acme, data, message):
    assert [e.message for e in bulk_grants.read_grants_csv(acme, data).errors] == [message]


@pytest.mark.django_db
def test_more_than_ten_thousand_rows_is_refused(acme):
    data = csv_bytes(*["alice,1,,x,"] * 10_001)

    assert [e.message for e in bulk_grants.read_grants_csv(acme, data).errors] == [
        "At most 10,000 rows per file; this one has 10,001."
    ]


@pytest.mark.django_db
def test_the_same_file_again_returns_the_first_upload(acme, alice):
    data = csv_bytes("alice,100,,Thanks,")
    first, created = bulk_grants.create_bulk_grant(acme, bulk_grants.read_grants_csv(acme, data))
    again, created_again = bulk_grants.create_bulk_grant(acme, bulk_grants.read_grants_csv(acme, data))

    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert BulkGrantRow.objects.count() == 1


@pytest.mark.django_db
def test_scheduled_rows_wait_for_their_send_time(acme, alice, bob):
    # acme is in Kuala Lumpur: a date means 09:00 there (01:00 UTC)
    data = csv_bytes("alice,10,,Now,", "bob,20,,New year,2027-01-01")
    bulk, _ = bulk_grants.create_bulk_grant(acme, bulk_grants.read_grants_csv(acme, data))
    assert BulkGrantRow.objects.get(customer=bob).send_at.isoformat() == "2027-01-01T01:00:00+00:00"

    with time_machine.travel("2026-12-31T12:00:00Z"):
        assert bulk_grants.grant_due_rows(bulk.pk) == 1
        bulk.refresh_from_db()
        assert (bulk.status, bulk_grants.progress(bulk)["scheduled"]) == (BulkGrant.Status.PROCESSING, 1)
        assert bulk_grants.list_due_bulk_ids() == []
    with time_machine.travel("2027-01-01T01:00:01Z"):
        assert bulk_grants.list_due_bulk_ids() == [bulk.pk]
        assert bulk_grants.grant_due_rows(bulk.pk) == 1

    assert balances(acme) == {"alice": 10, "bob": 20}


@pytest.mark.django_db
def test_a_reward_that_ran_out_fails_its_row_and_the_others_are_granted(acme, alice, bob):
    mug = RewardItemFactory(program=acme, title_en="Mug", stock=1)
    data = csv_bytes(f"alice,,{mug.pk},Prize,", f"bob,,{mug.pk},Prize,", "bob,30,,Consolation,")
    bulk, _ = bulk_grants.create_bulk_grant(acme, bulk_grants.read_grants_csv(acme, data))

    assert bulk_grants.grant_due_rows(bulk.pk) == 3

    bulk.refresh_from_db()
    assert (bulk.status, bulk.rows_done, bulk.rows_failed) == (BulkGrant.Status.COMPLETED, 2, 1)
    failed = BulkGrantRow.objects.get(error__gt="")
    assert (failed.line, failed.error) == (3, "This reward is out of stock.")
    assert balances(acme) == {"bob": 30}


# --- API --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_upload_then_progress(acme, alice, acme_api, globex, partner_client):
    upload = SimpleUploadedFile("thanks.csv", csv_bytes("alice,100,,Thanks,"), content_type="text/csv")

    response = acme_api.post("/api/v1/points/bulk-grants", {"file": upload}, format="multipart")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("filename", "status", "rows", "points_total", "rows_done", "percent")} == {
        "filename": "thanks.csv",
        "status": "scheduled",
        "rows": 1,
        "points_total": 100,
        "rows_done": 0,
        "percent": 0,
    }
    bulk_grants.grant_due_rows(body["id"])  # what the worker does
    detail = acme_api.get(f"/api/v1/points/bulk-grants/{body['id']}").json()
    assert (detail["status"], detail["percent"], detail["failures"]) == ("completed", 100, [])
    again = acme_api.post(
        "/api/v1/points/bulk-grants", {"file": SimpleUploadedFile("copy.csv", csv_bytes("alice,100,,Thanks,"))},
        format="multipart",
    )  # fmt: skip
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    assert partner_client(globex).get(f"/api/v1/points/bulk-grants/{body['id']}").status_code == 404


@pytest.mark.django_db
def test_api_bad_file_lists_every_bad_cell_in_the_error_shape(acme, alice, acme_api):
    upload = SimpleUploadedFile("bad.csv", csv_bytes("alice,0,,Thanks,", "ghost,5,,,"))

    response = acme_api.post("/api/v1/points/bulk-grants", {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {"code": "invalid", "detail": "Points are a whole number from 1 to 10,000,000.", "attr": "rows.2.points"},
            {"code": "invalid", "detail": "Unknown customer 'ghost'.", "attr": "rows.3.customer"},
            {"code": "invalid", "detail": "A reason of 1 to 200 characters is required.", "attr": "rows.3.reason"},
        ],
    }
    assert BulkGrant.objects.count() == 0


# --- Admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_upload_shows_the_report_or_the_progress(acme, alice, client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    bad = SimpleUploadedFile("bad.csv", csv_bytes("ghost,5,,Thanks,"))

    page = client.post("/admin/rewards/bulkgrant/upload/", {"program": acme.pk, "file": bad})

    assert page.status_code == 200
    assert b"Unknown customer &#x27;ghost&#x27;." in page.content
    assert BulkGrant.objects.count() == 0
    good = SimpleUploadedFile("good.csv", csv_bytes("alice,5,,Thanks,"))
    response = client.post("/admin/rewards/bulkgrant/upload/", {"program": acme.pk, "file": good})
    bulk = BulkGrant.objects.get()
    assert (response.status_code, response.url) == (302, f"/admin/rewards/bulkgrant/{bulk.pk}/change/")
    assert b'<progress max="1" value="0"' in client.get(response.url).content
    bulk_grants.grant_due_rows(bulk.pk)  # what the worker does
    detail = client.get(response.url).content.decode()
    assert '<progress max="1" value="1" aria-label="1 of 1 rows (0 failed, 0 scheduled)">' in detail
    assert "<title>good.csv (1 row) | View bulk grant | Ganjaran admin</title>" in detail
    assert client.get("/admin/rewards/bulkgrant/").status_code == 200


# --- A real worker, a full-size file ---------------------------------------------------------


@pytest.mark.worker
def test_ten_thousand_rows_through_a_real_worker(celery_worker, acme):
    # Given 10,000 customers and a file granting each of them 1 to 10,000 points
    Customer.objects.bulk_create(Customer(program=acme, external_id=f"c{n:05d}") for n in range(10_000))
    data = csv_bytes(*[f"c{n:05d},{n + 1},,Launch bonus," for n in range(10_000)])
    plan = bulk_grants.read_grants_csv(acme, data)
    assert plan.errors == []

    # When it is created (the worker is nudged on commit)
    bulk, _ = bulk_grants.create_bulk_grant(acme, plan, filename="launch.csv")

    # Then the worker grants every row exactly once and the ledger verifies
    wait_for(
        lambda: BulkGrant.objects.get(pk=bulk.pk).status == BulkGrant.Status.COMPLETED,
        timeout=240,
        message="bulk grant completed",
    )
    assert LedgerEntry.objects.filter(program=acme).count() == 10_000
    assert sum(balances(acme).values()) == 10_000 * 10_001 // 2
    assert BulkGrant.objects.get(pk=bulk.pk).rows_done == 10_000
    out = StringIO()
    call_command("verify_ledger", "--program", "acme", stdout=out)
    assert "Ledger OK" in out.getvalue()
