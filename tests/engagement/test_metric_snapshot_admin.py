"""The nightly metric snapshots' read-only admin list: readable metric names, values in the
program's money and units, a metric filter, and only the staff user's programs."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from engagement.models import MetricSnapshot, ProgramStaff

URL = "/admin/engagement/metricsnapshot/"


def snapshot(program, name, value, unit, numerator=None, denominator=None, day=date(2026, 12, 1)):
    return MetricSnapshot.objects.create(
        program=program,
        date=day,
        name=name,
        value=Decimal(value),
        unit=unit,
        numerator=numerator and Decimal(numerator),
        denominator=denominator and Decimal(denominator),
    )


@pytest.fixture
def rows(acme, globex):
    snapshot(acme, "clv", "16006.32", "money")
    snapshot(acme, "churn_rate", "12.5", "percent", "125.0000", "1000.0000")
    snapshot(acme, "nps", "40", "score")
    snapshot(globex, "aov", "77.7", "money", "1554.0000", "20.0000")


def test_list_names_each_metric_and_shows_its_value_with_the_unit(rows, admin_client):
    html = admin_client.get(URL).content.decode()

    assert "Customer lifetime value" in html
    assert "RM16,006.32 <small>(MYR per customer)</small>" in html
    assert "12.50\u00a0% <small>(per cent)</small>" in html
    assert "40.00 <small>(score from −100 to 100)</small>" in html
    assert "$77.70 <small>(USD)</small>" in html and "Average order value" in html
    # Counts without the stored four decimals, grouped; a missing part is a dash.
    assert '<td class="field-shown_numerator">125</td><td class="field-shown_denominator">1,000</td>' in html
    assert '<td class="field-shown_numerator">1,554</td><td class="field-shown_denominator">20</td>' in html
    assert '<td class="field-shown_numerator">-</td>' in html


def test_metric_filter_lists_the_names_and_filters(rows, admin_client):
    html = admin_client.get(URL).content.decode()
    assert '?name=churn_rate"' in html and '?name=nps"' in html

    filtered = admin_client.get(URL, {"name": "nps"}).content.decode()

    assert "score from −100 to 100" in filtered
    assert "RM16,006.32" not in filtered and "per cent" not in filtered


def test_rows_cannot_be_added_changed_or_deleted(rows, admin_client):
    row = MetricSnapshot.objects.get(name="nps")

    assert admin_client.get(URL + "add/").status_code == 403
    page = admin_client.get(f"{URL}{row.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"{URL}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MetricSnapshot.objects.count() == 4


def test_staff_of_one_program_see_only_its_snapshots_and_metric_names(rows, acme, client):
    user = get_user_model().objects.create_user("kim", password="pw-Kim-12345", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_metricsnapshot"))
    ProgramStaff.objects.create(program=acme, user=user)
    client.force_login(user)

    html = client.get(URL).content.decode()

    assert "Customer lifetime value" in html
    assert "USD" not in html and "?name=aov" not in html and "Globex" not in html
