"""Provider webhooks: POST /hooks/payouts/<provider>/<program slug>/.

Plain Django view (no partner auth): the provider's signature over the raw body is the
authentication. Bad or stale signature -> 400 and nothing changed.
"""

import json

from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from engagement.models import Program
from payouts.provider_webhooks import apply_webhook_update
from payouts.providers import PROVIDERS, get_provider
from payouts.providers.base import WebhookLookupError, WebhookSignatureError, redact


@csrf_exempt
@require_POST
def provider_webhook(request, provider, program_slug):
    if provider not in PROVIDERS:
        raise Http404
    program = get_object_or_404(Program, slug=program_slug)
    adapter = get_provider(program, provider)
    body = request.body
    try:
        updates = adapter.verify_webhook(request.headers, body)
    except WebhookSignatureError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except WebhookLookupError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    # Kept as the receipt's payload: without the provider's secret fields (a PayPal item's
    # receiver, a RazorpayX fund account).
    payload = redact(json.loads(body), adapter.secret_fields)
    results = [apply_webhook_update(program, provider, update, payload) for update in updates]
    return JsonResponse({"results": results})
