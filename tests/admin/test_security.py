"""Admin security: login lockout (django-axes), the TOTP second factor, Content-Security-Policy
and Permissions-Policy on admin, portal and survey pages, no inline script anywhere."""

from datetime import timedelta
from html.parser import HTMLParser

import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from rewards.portal_auth import SESSION_KEY
from surveys.models import Invitation
from surveys.tokens import invitation_path

LOGIN = "/admin/login/?next=/admin/"


def login(client, username, password, code=""):
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": code})


def current_code(device):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_200_wrong_passwords_lock_the_account_out_until_the_cool_off_ends(db):
    get_user_model().objects.create_user("siti", "siti@example.com", "right-Pass-123", is_staff=True)
    client = Client()

    answers = [login(client, "siti", f"wrong-{n}").status_code for n in range(200)]

    limit = settings.AXES_FAILURE_LIMIT
    assert answers[: limit - 1] == [200] * (limit - 1)  # the form again, with an error
    assert set(answers[limit - 1 :]) == {429}
    refused = login(client, "siti", "right-Pass-123")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        accepted = login(client, "siti", "right-Pass-123")
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/"


def test_lockout_is_per_user_name_another_account_still_logs_in(db):
    User = get_user_model()
    User.objects.create_user("siti", "siti@example.com", "right-Pass-123", is_staff=True)
    User.objects.create_user("omar", "omar@example.com", "omar-Pass-123", is_staff=True)
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        login(client, "siti", f"wrong-{n}")

    assert login(client, "omar", "omar-Pass-123").status_code == 302


def test_superuser_needs_a_totp_code_when_debug_is_off(db):
    assert settings.ADMIN_OTP == "superusers"  # tests run with DEBUG off
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-Pass-123")
    client = Client()

    without_device = login(client, "root", "root-Pass-123")
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    wrong_code = login(client, "root", "root-Pass-123", code="000000" if current_code(device) != "000000" else "111111")
    no_code = login(client, "root", "root-Pass-123")

    for refused in (without_device, wrong_code, no_code):
        assert refused.status_code == 200
        assert "_auth_user_id" not in client.session
    assert "add_totp_device root" in without_device.content.decode()
    # django-otp refuses any code for a moment after a wrong one: come back a little later.
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        accepted = login(client, "root", "root-Pass-123", code=current_code(device))
        assert accepted.status_code == 302 and accepted["Location"] == "/admin/"
        assert client.get("/admin/").status_code == 200


def test_staff_without_a_device_log_in_with_a_password(db):
    get_user_model().objects.create_user("siti", "siti@example.com", "right-Pass-123", is_staff=True)
    client = Client()

    assert login(client, "siti", "right-Pass-123").status_code == 302


def test_add_totp_device_command_prints_an_otpauth_url(db):
    from io import StringIO

    from django.core.management import call_command

    get_user_model().objects.create_superuser("root", "root@example.com", "root-Pass-123")
    out = StringIO()

    call_command("add_totp_device", "root", stdout=out)

    assert "otpauth://totp/" in out.getvalue()
    assert TOTPDevice.objects.filter(user__username="root", confirmed=True).count() == 1


class ScriptAudit(HTMLParser):
    """Inline scripts and inline event handlers (both refused by script-src 'self')."""

    def __init__(self, html):
        super().__init__()
        self.inline = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        handlers = [name for name in attrs if name.startswith("on")]
        if handlers:
            self.inline.append(f"<{tag} {handlers}>")
        if any((value or "").strip().lower().startswith("javascript:") for value in attrs.values()):
            self.inline.append(f"<{tag} javascript: URL>")
        self._in_script = tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag):
        self._in_script = False


def assert_protected(response, url):
    assert response.status_code == 200, url
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert "camera=()" in response["Permissions-Policy"]
    assert ScriptAudit(response.content.decode()).inline == [], url


def test_csp_and_permissions_policy_on_admin_portal_survey_and_api_docs_pages(two_programs, superuser, client):
    alpha, _ = two_programs
    # An invitation still waiting for its answer (the small demo may have answered them all).
    invitation = Invitation.objects.filter(program=alpha).order_by("pk").first()
    Invitation.objects.filter(pk=invitation.pk).update(status="sent", answered_at=None, expires_at=None)
    customer = alpha.customers.first()
    anonymous = ["/admin/login/", "/portal/login/", invitation_path(invitation), "/api/docs/"]
    for url in anonymous:
        assert_protected(Client().get(url), url)
    portal = Client()
    session = portal.session
    session[SESSION_KEY] = customer.pk
    session.save()
    for url in ["/portal/", "/portal/history/", "/portal/rewards/", "/portal/my-rewards/"]:
        assert_protected(portal.get(url), url)
    client.force_login(superuser)
    for url in ["/admin/", "/admin/dashboard/", "/admin/engagement/customer/", "/admin/surveys/survey/",
                f"/admin/surveys/survey/{invitation.survey_id}/report/", "/admin/campaigns/campaign/add/"]:  # fmt: skip
        assert_protected(client.get(url), url)


def test_with_otp_off_as_in_the_demo_a_superuser_logs_in_with_a_password(db, settings):
    settings.ADMIN_OTP = "off"  # the default when DEBUG is on (make demo)
    get_user_model().objects.create_superuser("admin", "admin@example.com", "ganjaran-demo")
    client = Client()

    assert login(client, "admin", "ganjaran-demo").status_code == 302


def test_with_otp_for_staff_a_staff_member_without_a_device_is_refused(db, settings):
    settings.ADMIN_OTP = "staff"
    get_user_model().objects.create_user("siti", "siti@example.com", "right-Pass-123", is_staff=True)
    client = Client()

    refused = login(client, "siti", "right-Pass-123")

    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert "add_totp_device siti" in refused.content.decode()
