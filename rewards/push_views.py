"""Web push from the portal: the service worker (served under /portal/ so its scope is the
portal) and the endpoints the page posts the browser's PushSubscription to."""

import json

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from engagement.channels import push
from rewards.views import portal_login_required

MAX_BODY = 4096


def service_worker_view(request):
    """/portal/sw.js: the static service worker, served from the portal's path (a worker's
    scope cannot be wider than its own URL's folder)."""
    path = finders.find("rewards/sw.js")
    if path is None:
        raise Http404
    with open(path, "rb") as source:
        response = HttpResponse(source.read(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # browsers check for a new worker on every visit
    response["Service-Worker-Allowed"] = "/portal/"
    return response


def _json(request):
    if len(request.body) > MAX_BODY:
        return None
    try:
        return json.loads(request.body or b"null")
    except ValueError:
        return None


def _error(detail, attr):
    return JsonResponse(
        {"type": "validation_error", "errors": [{"code": "invalid", "detail": detail, "attr": attr}]}, status=400
    )


@portal_login_required
@require_POST
def push_subscribe_view(request):
    """Body: PushSubscription.toJSON(). 201 with the subscription id; 400 when malformed."""
    data = _json(request)
    try:
        row = push.save_subscription(request.customer, data, request.headers.get("User-Agent", ""))
    except push.InvalidSubscription as exc:
        return _error(str(exc), "subscription")
    return JsonResponse({"id": row.pk}, status=201)


@portal_login_required
@require_POST
def push_unsubscribe_view(request):
    """Body: {"endpoint": "..."}. 200 with how many subscriptions were removed."""
    data = _json(request)
    if not isinstance(data, dict) or not isinstance(data.get("endpoint"), str):
        return _error("endpoint is required", "endpoint")
    return JsonResponse({"removed": push.remove_subscription(request.customer, data["endpoint"])})
