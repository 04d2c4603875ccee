"""Model instances from plain SQL rows, for the few hot reads that join what the ORM would
read in several statements (the portal's signed-in customer, its home page's summary).

`columns(Model, "alias")` lists the model's concrete columns for a SELECT; `from_row(Model,
values)` turns those values back into an instance exactly as a queryset would (each field's
database converters: JSON parsed, ...), marked as loaded from the database."""

import functools

from django.db import connection, connections


@functools.cache
def columns(model, alias):
    """The model's concrete columns under `alias`, in field order: a tuple made once per model
    and alias (the portal's pages and the balance endpoint ask on every request)."""
    return tuple(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def from_row(model, values):
    attnames, converted_fields = _conversions(model, connection.alias)
    values = list(values)
    for index, field, converters in converted_fields:
        for converter in converters:
            values[index] = converter(values[index], field, connection)
    return model.from_db(connection.alias, attnames, values)


@functools.cache
def _conversions(model, alias):
    """The model's attribute names, and (index, field, converters) of the fields that have
    converters: worked out once per model (they depend on the field and the database
    backend only; the portal home converts six rows per request)."""
    fields = model._meta.concrete_fields
    with_converters = [
        (index, field, field.get_db_converters(connections[alias])) for index, field in enumerate(fields)
    ]
    return [field.attname for field in fields], [entry for entry in with_converters if entry[2]]
