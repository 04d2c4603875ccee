"""Query-parameter parsing shared by every app's partner API views, and the range of times
the API accepts anywhere (query parameters and bodies, engagement.partner_api.fields)."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from engagement.partner_api.errors import ApiError

# Times outside this range are refused with 400: beyond it, the arithmetic later code does
# (rounding an expiry to the end of a day, converting to UTC) could overflow Python's
# datetime (years 1..9999), and no loyalty program needs such times.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
TIME_RANGE_MESSAGE = "must be between 1900-01-01T00:00:00Z and 2999-12-31T23:59:59Z."


def in_time_range(value):
    """True when the aware datetime `value` lies in [EARLIEST_TIME, LATEST_TIME]."""
    try:
        return EARLIEST_TIME <= value <= LATEST_TIME
    except OverflowError:  # the comparison converts to UTC, which can leave years 1..9999
        return False


def parse_time_param(request, name):
    """The query parameter `name` as an aware datetime, None when absent or empty;
    ApiError (400, attr=name) when it is not RFC 3339 with an offset or out of range."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
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
