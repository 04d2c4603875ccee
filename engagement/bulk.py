"""Bulk INSERT of model instances in one statement, with server-side parameter binding.

`bulk_insert(objs)` is `Model.objects.bulk_create(objs)` for the hot paths of event
processing (ledger entries and lots, campaign action runs, webhook events): one
`INSERT … SELECT FROM unnest(array, array, …) RETURNING id`, each column sent as ONE array,
in binary format (decimals in text: see _placeholder). Django's bulk_create compiles a
placeholder per value and psycopg's client-side binding quotes every value in Python: in a profile of a 1,000-event batch with 20 campaigns
(bench/pipeline.py), that Python work was about 40 % of the batch's time.

Same contract as bulk_create without options: `pre_save` runs (auto_now_add, defaults), the
primary keys are set on the objects in order, a constraint violation raises IntegrityError.
PostgreSQL only (the project's database); no signals, like bulk_create.
"""

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models

_JSON = "jsonb"
PLAIN = (
    models.IntegerField,  # and the big, small, positive and auto variants
    models.BooleanField,
    models.DecimalField,
    models.DateTimeField,
    models.ForeignKey,
)


def server_side_cursor() -> Any:
    """A psycopg cursor with server-side binding on Django's connection and transaction."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _columns(model):
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField | models.BigAutoField))
    ]


def _kind(field):
    if isinstance(field, models.JSONField):
        return _JSON
    if isinstance(field, models.CharField | models.TextField):
        return "text"  # str as it is; anything else (an id for source_id) through Django's str()
    return "plain" if isinstance(field, PLAIN) else "prep"


def _array_type(field):
    # JSON travels as text (psycopg dumps str arrays natively) and is cast per row.
    if isinstance(field, models.JSONField):
        return "text"
    return field.db_type(connection)


def _placeholder(field):
    # Binary arrays: psycopg packs ints, strings and datetimes without quoting or escaping
    # each element (text arrays of 7,700 datetimes took ~36 ms to dump, binary ~1 ms).
    # Decimals are the exception: psycopg's binary numeric dumper is slower than its text one.
    return "%t" if isinstance(field, models.DecimalField) else "%b"


def bulk_insert(objs: Sequence[models.Model]) -> Sequence[models.Model]:
    """Insert `objs` (one model) in one statement; sets their primary keys; returns them."""
    if not objs:
        return objs
    model = type(objs[0])
    fields = _columns(model)
    arrays: list[list] = [[] for _ in fields]
    # Integers, strings, booleans, decimals, datetimes and foreign-key ids go to psycopg as
    # they are (it dumps them natively); get_db_prep_save per value was most of the Python time.
    kinds = [_kind(f) for f in fields]
    for obj in objs:
        for column, field, kind in zip(arrays, fields, kinds, strict=True):
            value = field.pre_save(obj, True)
            if value is None or kind == "plain" or (kind == "text" and isinstance(value, str)):
                column.append(value)
            elif kind == _JSON:
                column.append(json.dumps(value, cls=field.encoder))
            else:
                column.append(field.get_db_prep_save(value, connection))
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    unnest = ", ".join(f"{_placeholder(f)}::{_array_type(f)}[]" for f in fields)
    selected = ", ".join(
        f"u.c{i}::{_JSON}" if isinstance(f, models.JSONField) else f"u.c{i}" for i, f in enumerate(fields)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(fields)))
    pk = model._meta.pk
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({names}) "
        f"SELECT {selected} FROM unnest({unnest}) AS u({aliases}) RETURNING {connection.ops.quote_name(pk.column)}"
    )
    # wrap_database_errors: psycopg's errors become Django's (IntegrityError, and the
    # OperationalError of a deadlock that the processing task retries on).
    with connection.wrap_database_errors, server_side_cursor() as cursor:
        cursor.execute(sql, arrays)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk_value in zip(objs, ids, strict=True):
        setattr(obj, pk.attname, pk_value)
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs
