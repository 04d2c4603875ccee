"""Admin pages of checkout: create a pool (generate or import), export it as CSV, watch usage."""

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


def test_import_a_pool_and_refuse_a_small_pattern(staff_client, acme):
    promotion = make_promotion(acme, code=None)
    upload = SimpleUploadedFile("codes.csv", b"code\nabc-1\nABC-2\n")
    response = staff_client.post("/admin/checkout/codepool/add/", {**pool_form(promotion), "codes_file": upload})
    assert response.status_code == 302
    assert sorted(PromotionCode.objects.values_list("code", flat=True)) == ["ABC-1", "ABC-2"]
    assert CodePool.objects.get().status == "ready"

    refused = staff_client.post("/admin/checkout/codepool/add/", pool_form(promotion, alphabet="AB", length=4))
    assert refused.status_code == 200 and CodePool.objects.count() == 1
