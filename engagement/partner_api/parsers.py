"""Request parsing for the partner API. Kept apart from errors: DRF imports the parser
classes while building APIView, so this module must not import rest_framework.views.

Every JSON body is checked once here, whatever the endpoint: size (413), well-formed JSON
without NaN/Infinity (nor numbers that overflow to it), nesting depth, and strings (keys and values) free of NUL characters and
lone surrogates, which PostgreSQL cannot store (400). Views and serializers therefore never
see input that would raise deep inside the database driver or the recursion limit.
Bodies are parsed by orjson, and again by json.loads when orjson refuses them (or could read
them differently), so the errors are json.loads' (see _fast_loads).
"""

import json
import math
from collections.abc import Mapping
from typing import IO, Any

import orjson
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
                    # A lone surrogate cannot be written in the JSON answer (it was a 500): escaped.
                    shown = key[:64].encode("utf-8", "backslashreplace").decode()
                    raise ValidationFailed(TEXT_MESSAGES[code], code=code, attr=_path((*parts, shown)))
                stack.append((child, depth + 1, (*parts, key)))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, (*parts, index)) for index, child in enumerate(item))
        elif isinstance(item, str) and (code := text_problem(item)):
            raise ValidationFailed(TEXT_MESSAGES[code], code=code, attr=_path(parts))
        elif isinstance(item, float) and not math.isfinite(item):  # 1e999 parses as inf
            raise ValidationFailed("Numbers must be finite.", code="invalid", attr=_path(parts))


def _within_depth(value: Any) -> bool:
    """True when no array or object nests deeper than MAX_JSON_DEPTH (visits containers only)."""
    # Level by level, each level one comprehension: a 1,000-event batch has ~2,000 containers.
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(MAX_JSON_DEPTH):
        if not level:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, (dict, list))
        ]
    return not level


def _could_fail_check(text: str | bytes, data: Any, overflowed: bool) -> bool:
    """False only when `check_json(data)` certainly passes, judged mostly from the text.

    A parsed string can hold NUL or a lone surrogate only through a \\u0000 or \\udxxx
    escape: the parsers refuse raw control characters and the decoded body holds no
    surrogates. So when neither escape appears (nor a float that overflowed), only the
    depth is left to check, without visiting every string. check_json, which names the
    offending path, runs whenever this says it could fail (slower, same answer): a
    1,000-event batch spent more time in it than in its validation.
    """
    if isinstance(text, bytes):  # the orjson path (which refuses overflowing numbers)
        escapes = b"\\u" in text and (b"\\u0000" in text or b"\\ud" in text or b"\\uD" in text)
        return overflowed or escapes or not _within_depth(data)
    return overflowed or "\\u0000" in text or "\\ud" in text or "\\uD" in text or not _within_depth(data)


# orjson reads an integer beyond 64 bits as a float (json keeps it an int): any run of 19
# digits (the shortest such integer has 19) sends the body to json.loads instead. Found by
# mapping digits to "0" and the rest to " " (two C passes; a regex took longer than orjson).
DIGITS_AS_ZERO = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
LONG_DIGIT_RUN = b"0" * 19
NOT_PARSED = object()


def _fast_loads(raw: bytes, encoding: str | None) -> Any:
    """The body parsed by orjson (~4x faster than json.loads on a batch), or NOT_PARSED when it must
    go through `json.loads`: another charset, a long digit run, or anything orjson refuses.
    orjson accepts nothing json.loads (with NaN/Infinity refused) would refuse, and gives the
    same values (last duplicate key wins, floats alike); every body it refuses (malformed,
    NaN, 1e999, lone surrogates, nesting past 1,024) is parsed again by json.loads so that
    the error and its message stay those of json.loads and check_json."""
    if (encoding or "utf-8").lower() not in ("utf-8", "utf8") or LONG_DIGIT_RUN in raw.translate(DIGITS_AS_ZERO):
        return NOT_PARSED
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NOT_PARSED


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
        encoding = (parser_context or {}).get("encoding")
        data = _fast_loads(raw, encoding)
        if data is not NOT_PARSED:
            if _could_fail_check(raw, data, False):  # orjson refuses numbers that overflow
                check_json(data)
            return data
        return self._slow_parse(raw, encoding)

    def _slow_parse(self, raw: bytes, encoding: str | None) -> Any:
        overflowed = []

        def parse_float(literal: str) -> float:
            number = float(literal)
            if not math.isfinite(number):  # 1e999 parses as inf: check_json names where
                overflowed.append(literal)
            return number

        try:
            text = raw.decode(encoding or "utf-8")
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
