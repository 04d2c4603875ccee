"""Serializer fields shared by the partner API's input serializers."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engagement.partner_api.params import TIME_RANGE_MESSAGE, TIME_SCHEMA, in_time_range


@extend_schema_field(TIME_SCHEMA)
class DateTimeField(serializers.DateTimeField):
    """RFC 3339 date-time in the years FIRST_YEAR..LAST_YEAR (400 `out_of_range` beyond), so
    no later arithmetic on it can overflow."""

    default_error_messages = {"out_of_range": f"The time {TIME_RANGE_MESSAGE}"}

    def to_internal_value(self, value):
        try:
            parsed = super().to_internal_value(value)
        except OverflowError:  # making a naive time aware can leave years 1..9999
            self.fail("out_of_range")
        if not in_time_range(parsed):
            self.fail("out_of_range")
        return parsed
