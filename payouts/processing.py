"""Processing payouts against their provider: claim, call, apply the outcome.

Work lives in the Payout row, not in the broker: a task is only a nudge, and the beat
sweep re-claims anything due (lost messages, retries after backoff, lookups, polls).

1. Claim with a conditional UPDATE: `queued` -> `processing` (states.transition with
   `next_attempt_at <= now`), or a lease on a `processing` row whose lease is free. A task
   delivered twice, or two workers, find the row taken and do nothing.
2. Call the provider OUTSIDE any transaction (no row lock held over the network), with
   our reference, which was stored when the payout was created. Every call is logged as a
   PayoutAttempt with the provider's secrets redacted (providers.http.stored_body); a
   gift-card code/PIN/link in the answer goes to the credential hooks in the same
   transaction (rewards keeps it encrypted on the redemption).
3. Apply the outcome under the row lock, only if our lease is still the current one:
   pending -> wait (poll later or webhook); final -> states; transient -> back to queued
   with exponential backoff and jitter (failed after PAYOUTS_MAX_ATTEMPTS); unknown
   (timeout, 5xx) -> step `lookup`: the next run looks the order up by our reference and
   never places it again while the provider might have it. Only when lookups have not found
   it for PAYOUTS_UNKNOWN_RESUBMIT_SECONDS is it sent again, with the SAME reference, which
   the provider deduplicates.
A worker that dies mid-call leaves an expired lease on a `submit` step: the next claim
treats that as unknown and looks up first.
"""

import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payouts import hooks, states
from payouts.models import Payout, PayoutAttempt, Status, Step
from payouts.providers import get_provider
from payouts.providers.base import OrderRequest, Outcome, ProviderResult

LEASE = timedelta(minutes=5)
BACKOFF_CAP_SECONDS = 3600


def backoff_seconds(attempt: int, base: float | None = None) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random (AWS architecture blog)."""
    base = settings.PAYOUTS_RETRY_BASE_SECONDS if base is None else base
    delay = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def process_payouts(payout_ids: Iterable[int], now: datetime | None = None) -> int:
    """Process each payout that is due; returns how many provider calls were made."""
    return sum(1 for payout_id in payout_ids if process_payout(payout_id, now=now) is not None)


def process_payout(payout_id: int, now: datetime | None = None) -> str | None:
    """Claim, call the provider once, apply. Returns the outcome, or None when the payout was
    not due, not found, or claimed by someone else (nothing changed)."""
    claimed = claim(payout_id, now or timezone.now())
    if claimed is None:
        return None
    payout, token = claimed
    provider = get_provider(payout.program, payout.provider)
    if payout.step == Step.SUBMIT:
        kind = PayoutAttempt.Kind.CREATE
        result = provider.create(order_request(payout))
    elif provider.lookup_by_create and not payout.provider_reference:
        # The provider deduplicates creates by our reference and has no other lookup.
        kind = PayoutAttempt.Kind.LOOKUP
        result = provider.create(order_request(payout))
    else:
        kind = PayoutAttempt.Kind.LOOKUP
        result = provider.fetch_status(payout.reference, payout.provider_reference)
    with transaction.atomic():
        PayoutAttempt.objects.create(
            payout=payout,
            kind=kind,
            outcome=result.outcome,
            request=result.request,
            response_code=result.response_code,
            response_body=result.response_body or "",
            error=(result.error or "")[:500],
            duration_ms=result.duration_ms,
        )
        if result.credentials:
            found = [{"kind": c.kind, "label": c.label, "value": c.value} for c in result.credentials]
            hooks.run_payout_credentials_handlers(payout.pk, found)
    apply_result(payout.pk, token, kind, result)
    return result.outcome


def claim(payout_id: int, now: datetime) -> tuple[Payout, uuid.UUID] | None:
    """Take the payout for one provider call; (payout, lease token) or None."""
    token = uuid.uuid4()
    lease = {"lease_token": token, "lease_until": now + LEASE}
    payout = Payout.objects.select_related("program", "customer").filter(pk=payout_id).first()
    if payout is None:
        return None
    if payout.status == Status.QUEUED:
        moved = states.transition(
            payout,
            Status.PROCESSING,
            expect={"next_attempt_at__lte": now},
            updates={**lease, "step": Step.SUBMIT, "attempts": payout.attempts + 1},
        )
        return (payout, token) if moved else None
    if payout.status != Status.PROCESSING:
        return None
    due = Payout.objects.filter(pk=payout_id, status=Status.PROCESSING, next_attempt_at__lte=now)
    # A submit whose lease expired: the worker died during the call. The order may exist.
    due.filter(step=Step.SUBMIT, lease_until__lt=now).update(step=Step.LOOKUP, unknown_since=now)
    taken = due.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(**lease)
    if not taken:
        return None
    payout.refresh_from_db()
    if payout.step == Step.SUBMIT:
        Payout.objects.filter(pk=payout_id).update(attempts=payout.attempts + 1)
        payout.attempts += 1
    return payout, token


def order_request(payout: Payout) -> OrderRequest:
    return OrderRequest(
        reference=payout.reference,
        amount=payout.amount,
        currency=payout.currency,
        method=payout.method,
        destination=payout.destination_secret or payout.destination,
        recipient_name=payout.customer.name,
        recipient_email=payout.customer.email,
    )


def apply_result(
    payout_id: int, token: uuid.UUID, kind: str, result: ProviderResult, now: datetime | None = None
) -> bool:
    """Apply one provider answer under the row lock; ignored if our lease was superseded
    (a webhook or another worker moved the payout meanwhile)."""
    now = now or timezone.now()
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None or payout.status != Status.PROCESSING or payout.lease_token != token:
            return False
        provider_fields: dict[str, Any] = {"lease_token": None, "lease_until": None}
        if result.provider_reference:
            provider_fields["provider_reference"] = result.provider_reference
        if result.provider_status:
            provider_fields["provider_status"] = result.provider_status[:64]
        outcome = result.outcome
        if outcome in Outcome.FINAL:
            finish(payout, outcome, reason=result.error, updates=provider_fields)
        elif outcome == Outcome.PENDING:
            _update(
                payout,
                step=Step.WAIT,
                unknown_since=None,
                destination_secret={},
                next_attempt_at=_poll(now),
                **provider_fields,
            )
        elif outcome == Outcome.TRANSIENT and kind == PayoutAttempt.Kind.CREATE:
            _retry_or_fail(payout, result, now, provider_fields)
        elif outcome == Outcome.UNKNOWN or (outcome == Outcome.NOT_FOUND and payout.step == Step.LOOKUP):
            _unknown(payout, now, provider_fields, not_found=outcome == Outcome.NOT_FOUND)
        else:  # a lookup that failed transiently, or lost an accepted order: look again later
            attempt = payout.provider_attempts.filter(kind=PayoutAttempt.Kind.LOOKUP).count()
            _update(payout, next_attempt_at=now + timedelta(seconds=backoff_seconds(attempt)), **provider_fields)
    return True


def _poll(now):
    return now + timedelta(seconds=settings.PAYOUTS_POLL_SECONDS)


def _update(payout, **fields):
    fields["updated_at"] = timezone.now()
    Payout.objects.filter(pk=payout.pk).update(**fields)
    for name, value in fields.items():
        setattr(payout, name, value)


def _retry_or_fail(payout, result, now, provider_fields):
    if payout.attempts >= settings.PAYOUTS_MAX_ATTEMPTS:
        reason = f"Gave up after {payout.attempts} attempts: {result.error}"
        states.transition(payout, Status.FAILED, reason=reason, updates=provider_fields)
        return
    retry_at = now + timedelta(seconds=backoff_seconds(payout.attempts))
    states.transition(
        payout,
        Status.QUEUED,
        reason=f"Retry {payout.attempts + 1} after: {result.error}",
        updates={
            **provider_fields,
            "step": Step.SUBMIT,
            "next_attempt_at": retry_at,
            "status_reason": result.error[:300],
        },
    )
    delay = (retry_at - now).total_seconds()
    if delay <= settings.PAYOUTS_SHORT_RETRY_SECONDS:
        # Short delays ride a broker countdown; longer ones wait for the beat sweep.
        payout_id = payout.pk
        transaction.on_commit(lambda: _nudge(payout_id, delay))


def _unknown(payout, now, provider_fields, not_found):
    since = payout.unknown_since or now
    resubmit_after = timedelta(seconds=settings.PAYOUTS_UNKNOWN_RESUBMIT_SECONDS)
    if not_found and now - since >= resubmit_after:
        # Looked up long enough: it was never placed. Send again with the SAME reference.
        _update(payout, step=Step.SUBMIT, unknown_since=None, next_attempt_at=now, **provider_fields)
        return
    lookups = payout.provider_attempts.filter(kind=PayoutAttempt.Kind.LOOKUP).count()
    retry_at = now + timedelta(seconds=backoff_seconds(lookups + 1, base=settings.PAYOUTS_LOOKUP_BASE_SECONDS))
    _update(payout, step=Step.LOOKUP, unknown_since=since, next_attempt_at=retry_at, **provider_fields)


def _nudge(payout_id, delay):
    from payouts.tasks import process_payouts_task

    process_payouts_task.apply_async(([payout_id],), countdown=max(0, int(delay)))


def finish(
    payout: Payout, outcome: str, reason: str = "", updates: dict[str, Any] | None = None, actor: Any = None
) -> bool:
    """Move a processing (or, for a reversal, succeeded) payout to the provider's final state."""
    updates = updates or {}
    if outcome == Outcome.REVERSED:
        if payout.status == Status.PROCESSING:
            states.transition(payout, Status.SUCCEEDED, updates=updates, actor=actor)
        return states.transition(payout, Status.REVERSED, reason=reason or "Reversed by the provider", actor=actor)
    return states.transition(payout, outcome, reason=reason, updates=updates, actor=actor)


def list_due_payout_ids(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Payouts the sweep should (re)process: queued or processing, due, lease free."""
    now = now or timezone.now()
    queued = Q(status=Status.QUEUED)
    processing = Q(status=Status.PROCESSING) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    return list(
        Payout.objects.filter(queued | processing, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
