"""Fulfilment in the admin: "Mark shipped" with its carrier/tracking form, the bulk
actions, refusals that change nothing, staff limited to their programs, and gift-card
credentials never in the admin."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from engagement.models import ProgramStaff
from rewards import fulfilment, ledger
from rewards.models import Fulfilment, FulfilmentStatusChange
from tests.rewards.test_fulfilment import ADDRESS, redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


def staff_of(program, client):
    user = get_user_model().objects.create_user(f"staff-{program.slug}", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="rewards"))
    ProgramStaff.objects.create(program=program, user=user)
    client.force_login(user)
    return client


def test_mark_shipped_asks_for_carrier_and_tracking_then_moves(boss, alice):
    f = redeem(alice, "merchandise", details=ADDRESS)
    listing = boss.get("/admin/rewards/fulfilment/").content.decode()
    url = f"/admin/rewards/fulfilment/{f.pk}/move/shipped/"
    assert f'href="{url}"' in listing and f'href="/admin/rewards/fulfilment/{f.pk}/move/returned/"' in listing
    assert "12 Jalan Ampang" in boss.get(url).content.decode()

    refused = boss.post(url, {"carrier": "Pos Laju", "tracking_number": ""})
    assert refused.status_code == 400
    f.refresh_from_db()
    assert (f.status, FulfilmentStatusChange.objects.count()) == ("requested", 1)

    response = boss.post(url, {"carrier": "Pos Laju", "tracking_number": "EP1MY"})
    assert response.status_code == 302
    f.refresh_from_db()
    assert (f.status, f.carrier, f.tracking_number) == ("shipped", "Pos Laju", "EP1MY")
    assert FulfilmentStatusChange.objects.get(to_status="shipped").actor == boss.user


def test_an_illegal_move_in_the_admin_is_refused_with_nothing_changed(boss, alice):
    f = redeem(alice, "merchandise", details=ADDRESS)
    response = boss.post(f"/admin/rewards/fulfilment/{f.pk}/move/delivered/", {})
    assert response.status_code == 400
    assert "cannot become delivered" in response.content.decode()
    f.refresh_from_db()
    assert f.status == "requested"
    assert boss.get(f"/admin/rewards/fulfilment/{f.pk}/move/bogus/").status_code == 404


def test_bulk_actions_move_what_may_move_and_report_the_rest(boss, alice):
    shipped = redeem(alice, "merchandise", details=ADDRESS, key="a")
    fulfilment.mark_shipped(shipped.pk, carrier="DHL", tracking_number="JD1")
    waiting = redeem(alice, "merchandise", details=ADDRESS, key="b")
    balance = ledger.get_account(alice).balance

    response = boss.post(
        "/admin/rewards/fulfilment/",
        {"action": "mark_delivered", "_selected_action": [shipped.pk, waiting.pk]},
        follow=True,
    )

    shipped.refresh_from_db()
    waiting.refresh_from_db()
    assert (shipped.status, waiting.status, ledger.get_account(alice).balance) == ("delivered", "requested", balance)
    assert (
        f"#{waiting.pk}: A merchandise reward that is requested cannot become delivered." in response.content.decode()
    )


def test_staff_see_and_move_only_their_programs_fulfilments(client, alice, globex):
    f = redeem(alice, "merchandise", details=ADDRESS)
    staff_of(globex, client)
    assert client.get(f"/admin/rewards/fulfilment/{f.pk}/move/shipped/").status_code == 404
    client.post(f"/admin/rewards/fulfilment/{f.pk}/move/shipped/", {"carrier": "X", "tracking_number": "Y"})
    assert "Jalan Ampang" not in client.get("/admin/rewards/fulfilment/").content.decode()
    f.refresh_from_db()
    assert f.status == "requested"


def test_fulfilment_fields_are_not_editable_and_none_are_added(boss, alice):
    f = redeem(alice, "merchandise", details=ADDRESS)
    boss.post(f"/admin/rewards/fulfilment/{f.pk}/change/", {"status": "delivered", "tracking_number": "Z"})
    f.refresh_from_db()
    assert (f.status, f.tracking_number) == ("requested", "")
    assert boss.get("/admin/rewards/fulfilment/add/").status_code == 403
    assert Fulfilment.objects.count() == 1
