"""One error shape for every 4xx (API.md):

    {"type": "validation_error", "errors": [{"code": "required", "detail": "…", "attr": "events.3.occurred_at"}]}

Services raise a `engagement.errors.DomainError` (code, message, attr, HTTP status); this
handler maps the whole hierarchy, DRF's own exceptions and Django's Http404/PermissionDenied
to that shape, in this one place. `ApiError` is the API layer's member of the hierarchy (a
DomainError built with the older `(detail, code, attr, status_code)` signature). Anything
unexpected still becomes a 500 (a bug), never a 4xx that hides it.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from engagement import errors


class ApiError(errors.DomainError):
    """A client error raised at the API edge: a code, a message, optionally the field."""

    def __init__(
        self,
        detail: str,
        code: str = "invalid",
        attr: str | None = None,
        status_code: int | None = None,
        error_type: str = "client_error",
    ) -> None:
        super().__init__(detail, code=code, attr=attr, status=status_code)
        self.error_type = error_type


class Conflict(ApiError, errors.Conflict):
    def __init__(self, detail: str, code: str = "conflict") -> None:
        super().__init__(detail, code=code, status_code=status.HTTP_409_CONFLICT)


class IngestBacklogged(exceptions.Throttled):
    """POST /events refused while the ingest backlog is over EVENTS_MAX_BACKLOG
    (engagement.backlog): a 429 in the one shape, code `ingest_backlog`, with Retry-After
    (DRF's handler sets it from `wait`). A rate-limit 429 is `throttled`."""

    default_detail = (
        "Too many events are waiting to be processed; nothing was stored. "
        "Send the same batch again (same event_ids) after Retry-After seconds."
    )
    default_code = "ingest_backlog"


def flatten_errors(detail: Any, attr: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested error detail into a flat list of {code, detail, attr}."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = None if key == "non_field_errors" else (f"{attr}.{key}" if attr else str(key))
            out.extend(flatten_errors(value, name if name is not None else attr))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) or isinstance(item, str) for item in detail):
            return [item for sub in detail for item in flatten_errors(sub, attr)]
        out = []
        for index, value in enumerate(detail):
            if value:
                out.extend(flatten_errors(value, f"{attr}.{index}" if attr else str(index)))
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [{"code": code, "detail": str(detail), "attr": attr}]


def error_response(
    status_code: int, error_type: str, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    return Response({"type": error_type, "errors": errors}, status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, errors.DomainError):
        # status_code (not status): an ApiError subclass written DRF-style may set it as a
        # class attribute, which then overrides DomainError's property.
        return error_response(exc.status_code, exc.error_type, exc.entries())
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)  # DRF answers nothing else
    if isinstance(exc, exceptions.ValidationError):
        error_type = "validation_error"
    else:
        error_type = "client_error" if response.status_code < 500 else "server_error"
    response.data = {"type": error_type, "errors": flatten_errors(exc.detail)}
    return response
