"""engagement.plain_rows: an instance from a plain SQL row is the one a queryset gives."""

import pytest
from django.db import connection

from engagement import plain_rows
from engagement.models import Customer
from rewards import activity, ledger
from rewards.models import LedgerEntry

pytestmark = pytest.mark.django_db


def _read(model, pk):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(plain_rows.columns(model, 'row'))} FROM {model._meta.db_table} row WHERE row.id = %s",
            [pk],
        )
        return plain_rows.from_row(model, cursor.fetchone())


def _values(instance):
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def test_an_entry_with_json_params_is_the_querysets(alice):
    entry = ledger.grant_points(
        customer=alice, points=40, reason=activity.Reason(activity.WELCOME, "Welcome", note="ün"), idempotency_key="w"
    )

    for _ in range(2):  # the conversions are worked out on the first call, then reused
        plain = _read(LedgerEntry, entry.pk)
        assert _values(plain) == _values(LedgerEntry.objects.get(pk=entry.pk))
        assert plain.message_params == {"note": "ün"} and plain._state.adding is False
        assert plain._state.db == "default"


def test_a_customer_is_the_querysets(alice):
    assert _values(_read(Customer, alice.pk)) == _values(Customer.objects.get(pk=alice.pk))


def test_the_columns_are_the_models_made_once():
    first = plain_rows.columns(Customer, "c")

    assert first == tuple(f'c."{field.column}"' for field in Customer._meta.concrete_fields)
    assert first[:2] == ('c."id"', 'c."program_id"')
    assert plain_rows.columns(Customer, "c") is first  # not rebuilt per request
    assert plain_rows.columns(Customer, "d")[0] == 'd."id"'
