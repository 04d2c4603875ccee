"""Serializer fields shared by the partner API's input serializers."""

import copy
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engagement.partner_api.params import TIME_RANGE_MESSAGE, TIME_SCHEMA, in_time_range


def _parse_or_none(text):
    try:
        return parse_datetime(text)
    except ValueError:
        return None


@extend_schema_field(TIME_SCHEMA)
class DateTimeField(serializers.DateTimeField):
    """RFC 3339 date-time in the years FIRST_YEAR..LAST_YEAR (400 `out_of_range` beyond), so
    no later arithmetic on it can overflow."""

    default_error_messages = {"out_of_range": f"The time {TIME_RANGE_MESSAGE}"}

    def to_internal_value(self, value: Any) -> datetime:
        # The offset as written (DRF converts to UTC below, which would hide it).
        if isinstance(value, str) and (written := _parse_or_none(value)) and not in_time_range(written):
            self.fail("out_of_range")
        try:
            parsed = super().to_internal_value(value)
        except OverflowError:  # making a naive time aware can leave years 1..9999
            self.fail("out_of_range")
        if not isinstance(value, str) and not in_time_range(parsed):  # a datetime given in Python
            self.fail("out_of_range")
        return parsed


# No docstring: drf-spectacular would print it as the description of every serializer using it.
# For a ModelSerializer whose fields depend on its Meta alone (not on the instance, the context
# or the request): the fields are built from the model once per class and each instance gets a
# deep copy of them, which is what DRF does for declared fields. DRF otherwise maps every model
# field again on every instantiation (about 1 ms for 20 fields on a hot read path).
class CachedFieldsMixin:
    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        template = cls.__dict__.get("_fields_template")
        if template is None:
            template = super().get_fields()  # type: ignore[misc]
            cls._fields_template = template  # type: ignore[attr-defined]
        return copy.deepcopy(template)
