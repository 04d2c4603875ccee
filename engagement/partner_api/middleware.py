"""The partner API's guard at the edge of every `/api/v1/` request, before any view runs.

- A path, query parameter (name or value) or header holding a NUL character or a lone
  surrogate is refused with a 400 in the one error shape: PostgreSQL cannot store or even
  compare such text, so letting it reach a filter would be a 500.
- Any error answer that is not already JSON (an unknown path's 404, a 500 page) is replaced
  by the one error shape with the same status, so partners never parse HTML.
"""

from django.http import JsonResponse

from engagement.partner_api.parsers import TEXT_MESSAGES, text_problem

API_PREFIX = "/api/v1/"
GENERIC = {
    400: ("bad_request", "The request could not be read."),
    403: ("permission_denied", "You may not do this."),
    404: ("not_found", "No such API path. See /api/schema/ for the paths."),
    405: ("method_not_allowed", "Method not allowed on this path."),
    413: ("payload_too_large", "The request body is larger than the limit."),
    500: ("server_error", "Something went wrong on our side; it has been logged."),
}


def error_json(status: int, code: str, detail: str, attr: str | None = None) -> JsonResponse:
    error_type = "server_error" if status >= 500 else "client_error"
    return JsonResponse({"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}, status=status)


def _first_bad_input(request):
    """(code, attr) of the first NUL/surrogate in the path, query or headers, or None."""
    if code := text_problem(request.path_info):
        return code, "path"
    for name, values in request.GET.lists():
        for text in (name, *values):
            if code := text_problem(text):
                return code, name if text_problem(name) is None else None
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and (code := text_problem(value)):
            return code, key[5:].replace("_", "-").title()
    return None


class PartnerApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        if bad := _first_bad_input(request):
            code, attr = bad
            return error_json(400, code, TEXT_MESSAGES[code], attr)
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            code, detail = GENERIC.get(response.status_code, ("error", response.reason_phrase))
            return error_json(response.status_code, code, detail)
        return response
