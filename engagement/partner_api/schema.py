"""OpenAPI schema post-processing: every partner operation documents its 4xx answers with the
one error shape (the `Error` component), so what the schema says is what the API answers."""

from typing import Any

from drf_spectacular import openapi
from rest_framework import serializers

from engagement.partner_api.pagination import PAGE_SHAPES

ERROR_COMPONENT = {
    "type": "object",
    "description": "The one error shape of every 4xx (and of a 500). See the README's Errors section.",
    "required": ["type", "errors"],
    "properties": {
        "type": {"type": "string", "enum": ["validation_error", "client_error", "server_error"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "detail", "attr"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable, stable (e.g. required)."},
                    "detail": {"type": "string", "description": "Human-readable; may change."},
                    "attr": {
                        "type": "string",
                        "nullable": True,
                        "description": "The field, parameter or header at fault (dotted path), or null.",
                    },
                },
            },
        },
    },
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input (body, query parameter, path or header); `errors` lists each problem.",
    "401": "No, unknown or revoked partner key.",
    "403": "Not allowed (e.g. a reward the customer's tier may not redeem).",
    "404": "No such object in the key's program (or no such path).",
    "409": "The object's current state refuses this (e.g. not enough points), or the same "
    "Idempotency-Key is still being processed.",
    "413": "The request body is larger than API_MAX_BODY_BYTES.",
    "415": "The body is not application/json.",
    "422": "The Idempotency-Key was already used with a different request.",
    "429": "Rate limit of the key exceeded; retry after Retry-After seconds.",
}
READ_ERRORS = ("400", "401", "404", "429")
WRITE_ERRORS = ("400", "401", "403", "404", "409", "413", "415", "422", "429")
# Response fields present only in some answers (drf-spectacular marks every read-only field
# required): the webhook secret is only in the create and rotate-secret answers.
OPTIONAL_IN_RESPONSES = {"SubscriptionOutput": {"secret"}}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
# Answers that one operation adds to (or words differently from) the common ones above.
OPERATION_ERRORS = {
    ("/api/v1/events", "post"): {
        "429": "Rate limit of the key exceeded (`throttled`), or too many accepted events are waiting "
        "to be processed (`ingest_backlog`, EVENTS_MAX_BACKLOG): nothing was stored; send the same batch "
        "again (same event_ids: they are stored once) after Retry-After seconds.",
    },
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the Error component and its 4xx responses."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_COMPONENT
    for name, optional in OPTIONAL_IN_RESPONSES.items():
        if name in components and "required" in components[name]:
            components[name]["required"] = [f for f in components[name]["required"] if f not in optional]
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            codes = READ_ERRORS if method in ("get", "head") else WRITE_ERRORS
            responses = operation.setdefault("responses", {})
            described = OPERATION_ERRORS.get((path, method), {})
            for code in codes:
                response = {
                    "description": described.get(code, ERROR_DESCRIPTIONS[code]),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                if code == "429":
                    response["headers"] = RETRY_AFTER
                responses.setdefault(code, response)
    return result


# What str.strip() removes (DRF trims CharFields with it); spelled out because a regex \s
# differs between Python and the ECMA dialect of JSON Schema.
PY_WHITESPACE = r"\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, naming an operation that answers a page `<path>_list`
    (APIViews documented with pagination.paginated() would otherwise be `_retrieve`), and
    stating that a required text field must hold more than whitespace (DRF trims it)."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        trimmed_and_required = getattr(field, "trim_whitespace", False) and not getattr(field, "allow_blank", True)
        plain_string = schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(schema)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and trimmed_and_required
            and plain_string
        ):
            schema["pattern"] = f"[^{PY_WHITESPACE}]"
        return schema

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        responses = self.get_response_serializers()
        page = responses.get(200) if isinstance(responses, dict) else None
        if self.method == "GET" and isinstance(page, type) and page.__name__ in PAGE_SHAPES:
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id
