"""Provider callbacks (no login; authenticated by the provider's signature)."""

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from engagement.channels import inbound


def _verified(request, url):
    params = request.POST.dict()
    signature = request.headers.get("X-Twilio-Signature", "")
    return inbound.is_valid_signature(settings.SMS_AUTH_TOKEN, url, params, signature)


@csrf_exempt
@require_POST
def twilio_status_callback(request):
    """StatusCallback: MessageSid + MessageStatus (delivered/read/failed/undelivered)."""
    # The provider signs the URL we gave it; behind a proxy that is the configured one.
    url = settings.CHANNELS_STATUS_CALLBACK_URL or request.build_absolute_uri()
    if not _verified(request, url):
        return HttpResponseForbidden("invalid signature")
    inbound.record_status_report(request.POST.get("MessageSid", ""), request.POST.get("MessageStatus", ""))
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request):
    """An inbound message (From "whatsapp:+..." or an SMS phone): opens the WhatsApp 24-hour
    window; STOP/START keywords in Body change consent on that channel."""
    url = settings.CHANNELS_INBOUND_URL or request.build_absolute_uri()
    if not _verified(request, url):
        return HttpResponseForbidden("invalid signature")
    inbound.record_inbound_message(request.POST.get("From", ""), body=request.POST.get("Body", ""))
    return HttpResponse("<Response/>", content_type="text/xml")
