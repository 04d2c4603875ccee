"""Request parsing for the partner API. Kept apart from errors: DRF imports the parser
classes while building APIView, so this module must not import rest_framework.views."""

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, parsers, status


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the limit."
    default_code = "payload_too_large"


def _reject_constant(name):
    # Python's json accepts NaN and Infinity, which are not JSON and which PostgreSQL refuses.
    raise ValueError(f"{name} is not valid JSON")


class LimitedJSONParser(parsers.JSONParser):
    """JSON parser that refuses bodies over API_MAX_BODY_BYTES with 413 before parsing."""

    def parse(
        self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return json.loads(
                raw.decode((parser_context or {}).get("encoding") or "utf-8"), parse_constant=_reject_constant
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
