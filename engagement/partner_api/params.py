"""Query-parameter parsing shared by every app's partner API views."""

from datetime import datetime

from django.utils.dateparse import parse_datetime
from rest_framework.request import Request

from engagement.partner_api.errors import ApiError


def parse_time_param(request: Request, name: str) -> datetime | None:
    """The RFC 3339 date-time query parameter `name`, or None when absent; ApiError otherwise."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = parse_datetime(raw.replace(" ", "+"))
    if value is None or value.tzinfo is None:
        raise ApiError(f"{name} must be an RFC 3339 date-time with offset.", code="invalid", attr=name)
    return value
