"""Model instances from plain SQL rows, for the few hot reads that join what the ORM would
read in several statements (the portal's signed-in customer, its home page's summary).

`columns(Model, "alias")` lists the model's concrete columns for a SELECT; `from_row(Model,
values)` turns those values back into an instance exactly as a queryset would (each field's
database converters: JSON parsed, ...), marked as loaded from the database."""

from django.db import connection


def columns(model, alias):
    return [f'{alias}."{field.column}"' for field in model._meta.concrete_fields]


def from_row(model, values):
    fields = model._meta.concrete_fields
    converted = [_converted(field, value) for field, value in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


def _converted(field, value):
    for converter in field.get_db_converters(connection):
        value = converter(value, field, connection)
    return value
