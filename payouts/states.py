"""The payout state machine: the ONLY code that moves `Payout.status`.

    pending_approval -> queued | cancelled
    queued           -> processing | cancelled
    processing       -> queued (transient error, retry later) | succeeded | failed | cancelled
    succeeded        -> reversed
    failed, cancelled, reversed: final

Each move is a conditional UPDATE (`WHERE status = <from>`), so of two racing movers only
one wins and the effects below run once. The database refuses anything else too (a trigger
installed by migration 0002), so an illegal move is impossible even from a shell.

Effects, inside the same transaction as the move:
- entering failed / cancelled / reversed releases the payout's funding reservation;
- entering a final status wipes the full destination, calls the registered final handlers
  (payouts.hooks) and records the outbound webhook event (payout.succeeded, or
  payout.failed for failed / cancelled / reversed, the payload saying which).
"""

from django.db import transaction
from django.utils import timezone

from engagement.webhooks.events import record_webhook_event
from payouts import funding, hooks
from payouts.models import Payout, PayoutStatusChange, Status

TRANSITIONS = {
    Status.PENDING_APPROVAL: {Status.QUEUED, Status.CANCELLED},
    Status.QUEUED: {Status.PROCESSING, Status.CANCELLED},
    Status.PROCESSING: {Status.QUEUED, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED},
    Status.SUCCEEDED: {Status.REVERSED},
    Status.FAILED: set(),
    Status.CANCELLED: set(),
    Status.REVERSED: set(),
}
FINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.REVERSED}
RELEASES_FUNDS = {Status.FAILED, Status.CANCELLED, Status.REVERSED}


class IllegalTransition(Exception):
    """The requested move is not in TRANSITIONS."""


def allowed_pairs():
    return sorted((str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets)


def can_move(from_status, to_status):
    return to_status in TRANSITIONS.get(from_status, set())


def transition(payout, to_status, *, reason="", actor=None, expect=None, updates=None):
    """Move `payout` from the status it was loaded with to `to_status`.

    Returns True when this call made the move; False when the row was no longer in that
    status (or did not match `expect`, extra column filters such as a lease token): someone
    else moved it first and nothing was changed. Raises IllegalTransition for a move the
    machine does not allow. `updates` are other columns written in the same UPDATE.
    """
    from_status = payout.status
    if not can_move(from_status, to_status):
        raise IllegalTransition(f"{from_status} -> {to_status}")
    now = timezone.now()
    fields = {"status": to_status, "updated_at": now, **(updates or {})}
    if to_status in FINAL:
        fields.update(completed_at=now, destination_secret={}, lease_token=None, lease_until=None, next_attempt_at=None)
    if reason and to_status in RELEASES_FUNDS:
        fields["status_reason"] = reason[:300]
    with transaction.atomic():
        moved = Payout.objects.filter(pk=payout.pk, status=from_status, **(expect or {})).update(**fields)
        if not moved:
            return False
        for name, value in fields.items():
            setattr(payout, name, value)
        PayoutStatusChange.objects.create(
            payout=payout, from_status=from_status, to_status=to_status, reason=reason[:300], actor=actor
        )
        _enter(payout, to_status)
    return True


def _enter(payout, to_status):
    if to_status in RELEASES_FUNDS:
        funding.release(payout)
    if to_status in FINAL:
        hooks.run_payout_final_handlers(payout.pk, str(to_status))
        _record_webhook_event(payout, to_status)


def webhook_payload(payout):
    return {
        "id": payout.pk,
        "reference": payout.reference,
        "customer": payout.customer.external_id,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "method": payout.method,
        "status": payout.status,
        "reason": payout.status_reason,
        "source": payout.source,
        "source_ref": payout.source_ref,
        "provider": payout.provider,
        "provider_reference": payout.provider_reference,
        "completed_at": payout.completed_at.isoformat() if payout.completed_at else None,
    }


def _record_webhook_event(payout, to_status):
    event_type = "payout.succeeded" if to_status == Status.SUCCEEDED else "payout.failed"
    record_webhook_event(
        payout.program,
        event_type,
        webhook_payload(payout),
        idempotency_key=f"payout-{payout.pk}-{to_status}",
    )
