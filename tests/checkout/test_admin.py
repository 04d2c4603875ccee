"""Admin pages of checkout: create a pool (generate or import), export it as CSV, watch usage."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from rewards.checkout import pools
from rewards.checkout.models import CodePool, PromotionCode
from tests.checkout.conftest import make_promotion

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def pool_form(promotion, **fields):
    return {"promotion": promotion.pk, "name": "Batch", "prefix": "SPR-", "length": 8,
            "alphabet": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", "count": 100, "uses_per_code": 1, **fields}  # fmt: skip


def test_create_generate_and_export_a_pool(staff_client, acme, django_capture_on_commit_callbacks):
    promotion = make_promotion(acme, code=None)
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post("/admin/checkout/codepool/add/", pool_form(promotion))
    assert response.status_code == 302
    pool = CodePool.objects.get()
    assert (pool.program, pool.status, len(callbacks)) == (acme, "generating", 1)  # the worker generates
    pools.generate_codes(pool.pk)

    export = staff_client.get(f"/admin/checkout/codepool/{pool.pk}/export/")
    rows = b"".join(export.streaming_content).decode().splitlines()
    assert rows[0] == "code,uses,max_uses" and len(rows) == 101
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(
        PromotionCode.objects.filter(pool=pool).values_list("code", flat=True)
    )
    page = staff_client.get(f"/admin/checkout/promotion/{promotion.pk}/change/")
    assert "0 paid, 0 held, 0 released" in page.content.decode()


def test_a_pattern_too_small_for_its_count_is_refused(staff_client, acme):
    promotion = make_promotion(acme, code=None)
    refused = staff_client.post("/admin/checkout/codepool/add/", pool_form(promotion, alphabet="AB", length=4))
    assert refused.status_code == 200 and CodePool.objects.count() == 0


IMPORT = "/admin/checkout/codepool/import/"


def upload(staff_client, promotion, content, name="Imported"):
    codes_file = SimpleUploadedFile("codes.csv", content)
    return staff_client.post(
        IMPORT, {"promotion": promotion.pk, "name": name, "uses_per_code": 1, "codes_file": codes_file}
    )


def table(page, table_id):
    """The rows of a preview's table as lists of cell texts."""
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [re.findall(r"<td>(?:<code>)?(.*?)(?:</code>)?</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def state():
    return list(CodePool.objects.values_list("pk", "name")), sorted(PromotionCode.objects.values_list("code", "pool"))


def test_import_previews_first_and_creates_every_code_only_when_confirmed(staff_client, acme):
    promotion = make_promotion(acme, code="SPRING10")
    before = state()

    preview = upload(staff_client, promotion, b"code\nabc-1\n\n ABC-2 ,extra\n")
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "2 codes would be created in the pool" in page
    assert table(page, "import-codes") == [["2", "ABC-1"], ["4", "ABC-2"]]
    assert state() == before  # the preview writes nothing

    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    done = staff_client.post(IMPORT, {"token": token, "confirm": "1"})
    pool = CodePool.objects.get(name="Imported")
    assert done.status_code == 302 and done["Location"] == f"/admin/checkout/codepool/{pool.pk}/change/"
    assert (pool.program, pool.promotion, pool.status, pool.count, pool.generated) == (acme, promotion, "ready", 2, 2)
    assert sorted(PromotionCode.objects.filter(pool=pool).values_list("code", "max_uses")) == [
        ("ABC-1", 1), ("ABC-2", 1),
    ]  # fmt: skip
    # The same preview cannot be confirmed twice.
    again = staff_client.post(IMPORT, {"token": token, "confirm": "1"}, follow=True)
    assert "This preview is no longer available" in again.content.decode()
    assert CodePool.objects.filter(name="Imported").count() == 1


def test_a_bad_file_is_listed_line_by_line_and_nothing_can_be_created(staff_client, acme):
    promotion = make_promotion(acme, code="SPRING10")
    before = state()

    content = "code\nNEW-1\nspring10\nnew-1\nbad code\n,no code\nNEW-2\n" + "X" * 65 + "\nNEW-2\n"
    preview = upload(staff_client, promotion, content.encode())
    page = preview.content.decode()
    assert preview.status_code == 200 and 'name="confirm"' not in page and 'id="import-refused"' in page
    assert table(page, "import-invalid") == [
        ["5", "bad code", "Only letters A-Z, digits and &#x27;-&#x27; are allowed."],
        ["6", "", "No code in the first column."],
        ["8", "X" * 65, "Longer than 64 characters."],
    ]
    assert table(page, "import-duplicates") == [["4", "NEW-1", "2"], ["9", "NEW-2", "7"]]
    assert table(page, "import-existing") == [["3", "SPRING10"]]
    assert table(page, "import-codes") == [["2", "NEW-1"], ["7", "NEW-2"]]

    # Not UTF-8, or no codes at all: the form says so.
    for content, problem in (
        (b"\xff\xfe\x00", "The file is not UTF-8 text."),
        (b"code\n\n", "The file holds no codes."),
    ):
        refused = upload(staff_client, promotion, content)
        assert refused.status_code == 200 and problem in refused.content.decode()
    # A confirmation without a preview of a clean file creates nothing either.
    forged = staff_client.post(IMPORT, {"token": "made-up", "confirm": "1"}, follow=True)
    assert "This preview is no longer available" in forged.content.decode()
    assert state() == before


def test_a_code_taken_between_preview_and_confirmation_creates_nothing(staff_client, acme):
    promotion = make_promotion(acme, code="SPRING10")
    page = upload(staff_client, promotion, b"NEW-1\nNEW-2\nNEW-3\n").content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    make_promotion(acme, "Other", code="NEW-3")  # another promotion takes one of the codes meanwhile
    before = state()

    refused = staff_client.post(IMPORT, {"token": token, "confirm": "1"}, follow=True)
    assert "A code of the file was created meanwhile; nothing was imported." in refused.content.decode()
    assert state() == before
