"""Request parsing for the partner API. Kept apart from errors: DRF imports the parser
classes while building APIView, so this module must not import rest_framework.views.

Every JSON body is checked once here, whatever the endpoint: size (413), well-formed JSON
without NaN/Infinity (nor numbers that overflow to it), nesting depth, and strings (keys and values) free of NUL characters and
lone surrogates, which PostgreSQL cannot store (400). Views and serializers therefore never
see input that would raise deep inside the database driver or the recursion limit.
"""

import json
import math
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, parsers, status

from engagement.errors import DomainError, ValidationFailed

# Deepest nesting of arrays/objects accepted; real bodies (batches, campaign rules) use < 10.
MAX_JSON_DEPTH = 32


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the limit."
    default_code = "payload_too_large"


def _reject_constant(name):
    # Python's json accepts NaN and Infinity, which are not JSON and which PostgreSQL refuses.
    raise ValueError(f"{name} is not valid JSON")


def text_problem(text: str) -> str | None:
    """The error code for a string PostgreSQL cannot store, or None when it is fine."""
    if "\x00" in text:
        return "null_characters_not_allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # json.loads joins valid pairs, so what is left is a lone surrogate
        return "surrogate_characters_not_allowed"
    return None


TEXT_MESSAGES = {
    "null_characters_not_allowed": "NUL (\\u0000) characters are not allowed.",
    "surrogate_characters_not_allowed": "Lone surrogate characters (\\ud800-\\udfff) are not allowed.",
}


def _path(parts):
    return ".".join(str(part) for part in parts) or None


def check_json(value: Any) -> None:
    """Raise a 400 for the first string or key NUL/surrogate-tainted, or nesting too deep.

    Iterative (a stack, no recursion), so it cannot hit the recursion limit itself.
    """
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, parts = stack.pop()
        if isinstance(item, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise DomainError(
                f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.", code="too_deep", attr=_path(parts)
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if code := text_problem(key):
                    raise ValidationFailed(TEXT_MESSAGES[code], code=code, attr=_path((*parts, key[:64])))
                stack.append((child, depth + 1, (*parts, key)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, (*parts, index)) for index, child in enumerate(item))
        elif isinstance(item, str) and (code := text_problem(item)):
            raise ValidationFailed(TEXT_MESSAGES[code], code=code, attr=_path(parts))
        elif isinstance(item, float) and not math.isfinite(item):  # 1e999 parses as inf
            raise ValidationFailed("Numbers must be finite.", code="invalid", attr=_path(parts))


def _within_depth(value: Any) -> bool:
    """True when no array or object nests deeper than MAX_JSON_DEPTH (visits containers only)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return True


def _could_fail_check(text: str, data: Any, overflowed: bool) -> bool:
    """False only when `check_json(data)` certainly passes, judged mostly from the text.

    A parsed string can hold NUL or a lone surrogate only through a \\u0000 or \\udxxx
    escape: json.loads refuses raw control characters and the decoded body holds no
    surrogates. So when neither escape appears (nor a float that overflowed), only the
    depth is left to check, without visiting every string. check_json, which names the
    offending path, runs whenever this says it could fail (slower, same answer): a
    1,000-event batch spent more time in it than in its validation.
    """
    return overflowed or "\\u0000" in text or "\\ud" in text or "\\uD" in text or not _within_depth(data)


class LimitedJSONParser(parsers.JSONParser):
    """JSON parser that refuses bodies over API_MAX_BODY_BYTES with 413 before parsing, and
    bodies `check_json` refuses with 400."""

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
        overflowed = []

        def parse_float(literal: str) -> float:
            number = float(literal)
            if not math.isfinite(number):  # 1e999 parses as inf: check_json names where
                overflowed.append(literal)
            return number

        try:
            text = raw.decode((parser_context or {}).get("encoding") or "utf-8")
            data = json.loads(text, parse_constant=_reject_constant, parse_float=parse_float)
        except RecursionError:  # the C scanner recurses per level: far beyond MAX_JSON_DEPTH anyway
            raise DomainError(
                f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.", code="too_deep"
            ) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"Malformed JSON: {exc}") from None
        if _could_fail_check(text, data, bool(overflowed)):
            check_json(data)
        return data
