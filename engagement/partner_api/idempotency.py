"""`Idempotency-Key` for partner POSTs (API.md, after the IETF draft and Stripe).

The claim is a unique insert, committed before the work starts, so two concurrent requests
with one key can never both run. Outcomes:
- same key, same body, first one finished  -> the first response replayed (status and body);
- same key, different body (or endpoint)    -> 422;
- same key while the first is still running -> 409.
Only successful (2xx) results are kept; an error releases the key so a corrected request may
reuse it. Records are kept IDEMPOTENCY_KEEP_HOURS (>= 24 h) and then purged by beat.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from engagement.models import IdempotencyRecord
from engagement.partner_api.errors import ApiError, Conflict

HEADER = "Idempotency-Key"


def idempotency_header(required=False, description="Replays the first response for the same key and body (kept 48 h)."):
    """The header as the OpenAPI schema documents it on an idempotent operation."""
    schema = {"type": "string", "minLength": 1, "maxLength": 255}
    return OpenApiParameter(HEADER, schema, OpenApiParameter.HEADER, required=required, description=description)


IDEMPOTENCY_HEADER = idempotency_header()
# A claim older than this whose request never finished (a killed process) may be taken over.
STALE_CLAIM = timedelta(minutes=10)


def request_fingerprint(request):
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _claim(program, key, operation, fingerprint):
    """Insert the claim; return None when won, else the existing record."""
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(program=program, key=key, operation=operation, request_hash=fingerprint)
        return None
    except IntegrityError:
        return IdempotencyRecord.objects.get(program=program, key=key)


def _take_over_stale(record):
    # Conditional update: of two requests racing for a stale claim only one wins.
    return (
        IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.RUNNING, created_at=record.created_at
        ).update(created_at=timezone.now())
        == 1
    )


def idempotent(handler):
    """Decorate an APIView method (post) to honour the Idempotency-Key header."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ApiError("Idempotency-Key must be 1 to 255 characters.", code="invalid", attr="Idempotency-Key")
        program = request.program
        operation = f"{request.method} {request.path}"[:200]
        fingerprint = request_fingerprint(request)
        existing = _claim(program, key, operation, fingerprint)
        if existing is not None:
            if existing.operation != operation or existing.request_hash != fingerprint:
                raise ApiError(
                    "This Idempotency-Key was already used with a different request.",
                    code="idempotency_key_reused",
                    attr="Idempotency-Key",
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if existing.state == IdempotencyRecord.State.DONE:
                return Response(
                    existing.response_body, status=existing.response_status, headers={"Idempotent-Replayed": "true"}
                )
            if existing.created_at > timezone.now() - STALE_CLAIM or not _take_over_stale(existing):
                raise Conflict(
                    "A request with this Idempotency-Key is still being processed.", code="idempotency_key_in_use"
                )
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            IdempotencyRecord.objects.filter(program=program, key=key).delete()
            raise
        if 200 <= response.status_code < 300:
            IdempotencyRecord.objects.filter(program=program, key=key).update(
                state=IdempotencyRecord.State.DONE,
                response_status=response.status_code,
                response_body=json.loads(json.dumps(response.data, cls=DjangoJSONEncoder)),
            )
        else:
            IdempotencyRecord.objects.filter(program=program, key=key).delete()
        return response

    return wrapper


def purge_expired_keys(now=None):
    """Delete records older than IDEMPOTENCY_KEEP_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
