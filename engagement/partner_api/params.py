"""Query-parameter parsing shared by every app's partner API views, and the range of times
the API accepts anywhere (query parameters and bodies, engagement.partner_api.fields)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime
from rest_framework.request import Request

from engagement.partner_api.errors import ApiError

# Times outside the years 1900..2999 are refused with 400: beyond them, the arithmetic later
# code does (rounding an expiry to the end of a day, converting to UTC) could overflow
# Python's datetime (years 1..9999), and no loyalty program needs such times.
# Offsets beyond 14:59 exist nowhere and PostgreSQL refuses them ("displacement out of range").
FIRST_YEAR, LAST_YEAR = 1900, 2999
MAX_OFFSET = timedelta(hours=14, minutes=59)
TIME_RANGE_MESSAGE = "must be in the years 1900 to 2999, with a UTC offset of at most 14:59."
# The same rules as the OpenAPI schema states them, for query parameters and body fields.
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"
TIME_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "pattern": YEAR_PATTERN + r".*([Zz]|[+-](0[0-9]|1[0-4]):[0-5][0-9])$",
}
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": YEAR_PATTERN}


def in_time_range(value: datetime) -> bool:
    """True when the datetime `value` (as written, in its own offset) is in FIRST..LAST_YEAR
    and its offset (if any) is at most MAX_OFFSET either way."""
    offset = value.utcoffset()
    return FIRST_YEAR <= value.year <= LAST_YEAR and (offset is None or abs(offset) <= MAX_OFFSET)


def parse_time_param(request: Request, name: str) -> datetime | None:
    """The query parameter `name` as an aware datetime, None when absent;
    ApiError (400, attr=name) when it is not RFC 3339 with an offset or out of range."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        # A "+" in a query string arrives as a space when the partner did not encode it.
        value = parse_datetime(raw.replace(" ", "+"))
    except ValueError:  # well-formed but impossible: year 0, month 13, offset +99:00
        value = None
    if value is None or value.tzinfo is None:
        raise ApiError(f"{name} must be an RFC 3339 date-time with offset.", code="invalid", attr=name)
    if not in_time_range(value):
        raise ApiError(f"{name} {TIME_RANGE_MESSAGE}", code="out_of_range", attr=name)
    return value


def parse_choice_param(request: Request, name: str, choices: Sequence[str]) -> str | None:
    """The query parameter `name`, None when absent; ApiError (400 `invalid_choice`) when it
    is not one of `choices`, empty included (a filter on an unknown value is a mistake)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise ApiError(f"{name} must be one of {', '.join(choices)}.", code="invalid_choice", attr=name)
    return raw


def parse_bool_param(request: Request, name: str) -> bool | None:
    """The query parameter `name` as True/False ("true"/"false"), None when absent."""
    raw = parse_choice_param(request, name, ("true", "false"))
    return None if raw is None else raw == "true"
