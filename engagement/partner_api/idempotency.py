"""`Idempotency-Key` for partner POSTs (API.md, after the IETF draft and Stripe).

Exactly once, even when the connection drops:
1. The claim is a unique insert (`INSERT ... ON CONFLICT DO NOTHING`), committed at once, so
   a second request with the key always finds the record.
2. The handler then runs in ONE transaction that first locks the record row
   (`SELECT ... FOR UPDATE NOWAIT`), and the stored response is written in that same
   transaction. The effect and the record's `done` state therefore commit together or not at
   all: a retry after a connection dropped past COMMIT finds `done` and replays; a retry after
   a drop before COMMIT finds `running` with nothing committed.
3. A `running` record whose row lock we obtain has no live owner (the owner's transaction
   would hold the lock) and no committed effect, so it is taken over at once, safely.

Outcomes for a second request with a key:
- same key, same body, first one finished  -> the first response replayed (status and body);
- same key, different body (or endpoint)    -> 422;
- same key while the first is still running -> 409 (its row lock is held).
Only successful (2xx) results are kept; an error rolls the handler's writes back and releases
the key, so a corrected request may reuse it. Records are kept IDEMPOTENCY_KEEP_HOURS
(>= 24 h) and then purged by beat.

Handlers run inside the transaction opened here: their own `transaction.atomic` blocks
become savepoints, and what they schedule with `on_commit` runs after the record is stored.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engagement.models import IdempotencyRecord
from engagement.partner_api.errors import ApiError, Conflict

HEADER = "Idempotency-Key"
# An APIView method: (view, request, *args, **kwargs) -> Response.
Handler = Callable[..., Response]
BODY_FIELD = "idempotency_key"


def idempotency_header(
    required: bool = False, description: str = "Replays the first response for the same key and body (kept 48 h)."
) -> OpenApiParameter:
    """The header as the OpenAPI schema documents it on an idempotent operation."""
    schema = {"type": "string", "minLength": 1, "maxLength": 255}
    return OpenApiParameter(HEADER, schema, OpenApiParameter.HEADER, required=required, description=description)


IDEMPOTENCY_HEADER = idempotency_header()
RECORDS = IdempotencyRecord._meta.db_table
# A claim can vanish between our insert and our lock (its failing owner released it); we then
# claim again, a bounded number of times.
CLAIM_ATTEMPTS = 3


class _Busy(Exception):
    """The record's row is locked: its request is still running."""


@dataclass
class _Attempt:
    program: object
    key: str
    operation: str
    fingerprint: str
    ran_handler: bool = False


def request_fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _request_key(request, body_key):
    """The header's key, else (on endpoints that accept one) a string `idempotency_key` of the body."""
    key = request.headers.get(HEADER)
    if key is None and body_key and isinstance(request.data, dict):
        value = request.data.get(BODY_FIELD)
        key = value if isinstance(value, str) and value else None
    return key


def _claim(program, key, operation, fingerprint):
    """Insert the claim (committed at once, outside any transaction of ours); a no-op when taken."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {RECORDS} (program_id, key, operation, request_hash, state, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (program_id, key) DO NOTHING",
            [program.pk, key, operation, fingerprint, IdempotencyRecord.State.RUNNING, timezone.now()],
        )


def _lock(program, key):
    """The record, row-locked until the surrounding transaction ends; None if it vanished.
    Raises _Busy when another transaction holds it (NOWAIT: we answer 409, never queue)."""
    try:
        with transaction.atomic():  # a savepoint: a refused lock must not doom the transaction
            return IdempotencyRecord.objects.select_for_update(nowait=True).filter(program=program, key=key).first()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            raise _Busy from None
        raise


def _reused():
    return ApiError(
        "This Idempotency-Key was already used with a different request.",
        code="idempotency_key_reused",
        attr=HEADER,
        status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def _replay(record):
    return Response(record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"})


def _run_once(attempt, handler, view, request, args, kwargs):
    """One attempt in one transaction: lock the record, then replay it or run and store.
    Returns None when the record vanished before we could lock it (claim again)."""
    program, key, operation, fingerprint = attempt.program, attempt.key, attempt.operation, attempt.fingerprint
    with transaction.atomic():
        try:
            record = _lock(program, key)
        except _Busy:
            held = IdempotencyRecord.objects.filter(program=program, key=key).first()
            if held is not None and (held.operation, held.request_hash) != (operation, fingerprint):
                raise _reused() from None
            raise Conflict(
                "A request with this Idempotency-Key is still being processed.", code="idempotency_key_in_use"
            ) from None
        if record is None:
            return None
        same = (record.operation, record.request_hash) == (operation, fingerprint)
        if record.state == IdempotencyRecord.State.DONE:
            if not same:
                raise _reused()
            return _replay(record)
        if not same:
            # An abandoned claim of another body: nothing of it committed, the key is free.
            record.operation, record.request_hash = operation, fingerprint
        attempt.ran_handler = True
        response = handler(view, request, *args, **kwargs)
        if 200 <= response.status_code < 300:
            record.state = IdempotencyRecord.State.DONE
            record.response_status = response.status_code
            record.response_body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            record.save(update_fields=["operation", "request_hash", "state", "response_status", "response_body"])
        else:
            record.delete()
        return response


def idempotent(handler: Handler | None = None, *, body_key: bool = False) -> Callable[..., Any]:
    """Decorate an APIView method (post) to honour the Idempotency-Key header (and, with
    `body_key=True`, a body `idempotency_key` when no header is sent) as the module says."""
    if handler is None:
        return functools.partial(idempotent, body_key=body_key)

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = _request_key(request, body_key)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not 1 <= len(key) <= 255:
            raise ApiError("Idempotency-Key must be 1 to 255 characters.", code="invalid", attr=HEADER)
        operation = f"{request.method} {request.path}"[:200]
        for _ in range(CLAIM_ATTEMPTS):
            attempt = _Attempt(request.program, key, operation, request_fingerprint(request))
            _claim(attempt.program, key, operation, attempt.fingerprint)
            try:
                response = _run_once(attempt, handler, view, request, args, kwargs)
            except BaseException:
                if attempt.ran_handler:
                    # The handler failed and its transaction rolled back: release our claim.
                    _release(attempt.program, key)
                raise
            if response is not None:
                return response
        raise Conflict("A request with this Idempotency-Key is still being processed.", code="idempotency_key_in_use")

    return wrapper


def _release(program, key):
    # Only a claim nobody finished; if the connection is gone this fails too and the
    # abandoned claim is taken over by the next request (it holds no lock).
    IdempotencyRecord.objects.filter(program=program, key=key, state=IdempotencyRecord.State.RUNNING).delete()


def purge_expired_keys(now: datetime | None = None) -> int:
    """Delete records older than IDEMPOTENCY_KEEP_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
