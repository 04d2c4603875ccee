import hashlib

from django.contrib.auth.models import Permission, User
from django.core.management import call_command

from engagement.models import PartnerKey, ProgramStaff
from tests.factories import CustomerFactory


def test_command_creates_a_hashed_key_shown_once(acme, capsys):
    call_command("create_partner_key", "acme", "--name", "shop")

    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    key = PartnerKey.objects.get(name="shop")
    assert key.program == acme
    assert key.prefix == raw_key[:12]
    assert key.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key not in (key.hashed_key, key.prefix)
    assert PartnerKey.objects.find(raw_key) == key


def test_last_used_is_recorded(acme, acme_api):
    assert acme_api.partner_key.last_used_at is None

    acme_api.get("/api/v1/customers")

    acme_api.partner_key.refresh_from_db()
    assert acme_api.partner_key.last_used_at is not None


def test_admin_creates_a_key_and_shows_it_once(acme, admin_client):
    response = admin_client.post("/admin/engagement/partnerkey/add/", {"program": acme.pk, "name": "crm"}, follow=True)

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw_key = shown[0].rsplit(" ", 1)[-1]
    assert PartnerKey.objects.find(raw_key).name == "crm"
    listing = admin_client.get("/admin/engagement/partnerkey/").content.decode()
    assert raw_key not in listing
    assert raw_key[:12] in listing


def test_admin_revoke_action(acme, acme_api, admin_client):
    key = acme_api.partner_key

    admin_client.post("/admin/engagement/partnerkey/", {"action": "revoke_selected", "_selected_action": [key.pk]})

    assert acme_api.get("/api/v1/customers").status_code == 401


def test_staff_see_only_their_programs(acme, globex, client):
    CustomerFactory(program=acme, external_id="acme-cust")
    CustomerFactory(program=globex, external_id="globex-cust")
    staff = User.objects.create_user("siti", password="pw-Siti-123", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_customer", "view_program"]))
    ProgramStaff.objects.create(program=acme, user=staff)
    client.force_login(staff)

    customers = client.get("/admin/engagement/customer/").content.decode()
    programs = client.get("/admin/engagement/program/").content.decode()

    assert "acme-cust" in customers and "globex-cust" not in customers
    assert "Acme" in programs and "Globex" not in programs
    assert client.get(f"/admin/engagement/program/{globex.pk}/change/").status_code in (302, 404)


def test_admin_pages_render_with_the_ganjaran_header(acme, alice, admin_client):
    for url in [
        "/admin/",
        "/admin/engagement/customer/",
        f"/admin/engagement/customer/{alice.pk}/change/",
        "/admin/engagement/event/",
        "/admin/engagement/program/",
        "/admin/engagement/partnerkey/",
    ]:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "Ganjaran" in response.content.decode()


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ["/api/v1/events", "/api/v1/customers", "/api/v1/customers/{external_id}"]:
        assert f"{path}:" in text
    assert docs.status_code == 200
    assert "cdn" not in docs.content.decode().lower()
