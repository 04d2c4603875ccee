"""Payout use cases: request, approve, reject, cancel, reverse, fund. Each opens its own
transaction, moves status only through payouts.states and schedules processing on commit.

Lock order everywhere: customer row (request only) -> payout row -> funding account row.
"""

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement.currencies import is_iso_currency
from engagement.errors import DomainError
from engagement.models import Customer, Program
from engagement.tenancy import allowed_programs
from payouts import funding, risk, states
from payouts.destinations import DestinationError, clean_destination
from payouts.hold_reasons import HoldReason
from payouts.models import (
    FundingEntry,
    Hold,
    Method,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutSettings,
    PayoutStatusChange,
    Source,
    Status,
)
from payouts.providers import provider_names

MAX_AMOUNT = Decimal("999999999999.99")
REASON_MAX_LENGTH = 300  # PayoutApproval.reason


class PayoutError(DomainError):
    """A request the payout rules refuse; nothing was changed. `code` is machine-readable;
    the API's exception handler maps it (engagement.errors)."""

    def __init__(self, detail, code="invalid", attr=None, status_code=400):
        super().__init__(detail, code=code, attr=attr, status=status_code)


def get_settings(program: Program) -> PayoutSettings:
    payout_settings, _created = PayoutSettings.objects.get_or_create(program=program)
    return payout_settings


def _clean_amount(amount):
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise PayoutError("amount must be a decimal number.", attr="amount") from None
    if not value.is_finite() or value <= 0 or value > MAX_AMOUNT:
        raise PayoutError("amount must be positive.", attr="amount")
    if value != value.quantize(Decimal("0.01")):
        raise PayoutError("amount has at most 2 decimals.", attr="amount")
    return value.quantize(Decimal("0.01"))


def _same_request(payout, customer, amount, currency, method):
    return (payout.customer_id, payout.amount, payout.currency, payout.method) == (
        customer.pk,
        amount,
        currency,
        method,
    )


def _check_existing(existing, customer, amount, currency, method):
    if not _same_request(existing, customer, amount, currency, method):
        raise PayoutError(
            "This idempotency key was already used for a different payout.",
            code="idempotency_key_reused",
            attr="idempotency_key",
            status_code=422,
        )
    return existing


def request_payout(
    *,
    program: Program,
    customer: Customer,
    amount: Decimal,
    currency: str,
    method: str,
    destination: dict[str, Any],
    source: str,
    source_ref: str,
    idempotency_key: str,
    provider: str | None = None,
    requested_by: User | None = None,
    batch: PayoutBatch | None = None,
    enqueue: bool = True,
) -> Payout:
    """Create a payout and queue it, or hold it in pending_approval with the reason.

    Idempotent by (program, idempotency_key): a repeat returns the first payout and creates
    nothing (a repeat with another customer/amount/currency/method raises PayoutError 422).
    Locks the customer row for the risk checks; reserves funds under the account lock.
    Processing is enqueued on commit (queue "payouts"). Raises PayoutError for bad input.
    """
    amount = _clean_amount(amount)
    if customer.program_id != program.pk:
        raise PayoutError("Unknown customer.", code="not_found", attr="customer")
    if not is_iso_currency(currency):
        raise PayoutError("currency must be an ISO 4217 code.", attr="currency")
    if method not in Method.values:
        raise PayoutError(f"method must be one of {', '.join(Method.values)}.", attr="method")
    if source not in Source.values:
        raise PayoutError(f"source must be one of {', '.join(Source.values)}.", attr="source")
    if not idempotency_key or len(idempotency_key) > 255:
        raise PayoutError("idempotency_key must be 1 to 255 characters.", attr="idempotency_key")
    existing = Payout.objects.filter(program=program, idempotency_key=idempotency_key).first()
    if existing:
        return _check_existing(existing, customer, amount, currency, method)
    payout_settings = get_settings(program)
    provider = provider or payout_settings.default_provider
    if provider not in provider_names():
        raise PayoutError(f"provider must be one of {', '.join(provider_names())}.", attr="provider")
    try:
        masked, secret, fingerprint = clean_destination(method, destination)
    except DestinationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        attr = field if field == "method" else f"destination.{field}"
        raise PayoutError(messages[0], attr=attr) from None

    with transaction.atomic():
        # Serialises one customer's requests so the velocity and daily checks see each other.
        type(customer).objects.select_for_update().filter(pk=customer.pk).first()
        try:
            with transaction.atomic():
                payout = Payout.objects.create(
                    program=program,
                    customer=customer,
                    amount=amount,
                    currency=currency,
                    method=method,
                    destination=masked,
                    destination_secret=secret,
                    destination_fingerprint=fingerprint,
                    provider=provider,
                    idempotency_key=idempotency_key,
                    reference=Payout.new_reference(),
                    source=source,
                    source_ref=(source_ref or "")[:128],
                    batch=batch,
                    requested_by=requested_by,
                    status=Status.PENDING_APPROVAL,
                )
        except IntegrityError:
            # A concurrent twin with the same key committed first.
            existing = Payout.objects.get(program=program, idempotency_key=idempotency_key)
            return _check_existing(existing, customer, amount, currency, method)
        PayoutStatusChange.objects.create(payout=payout, to_status=Status.PENDING_APPROVAL, actor=requested_by)
        reason, approvals = risk.assess(payout, payout_settings)
        if reason.hold:
            _set_hold(payout, reason, approvals_required=approvals)
        else:
            _queue_or_hold_for_funds(payout, enqueue=enqueue)
    return payout


def _set_hold(payout, reason, approvals_required=None):
    payout.hold, payout.hold_detail, payout.hold_params = reason.hold, reason.detail[:300], reason.params
    fields = {
        "hold": payout.hold,
        "hold_detail": payout.hold_detail,
        "hold_params": payout.hold_params,
        "updated_at": timezone.now(),
    }
    if approvals_required is not None:
        payout.approvals_required = fields["approvals_required"] = approvals_required
    Payout.objects.filter(pk=payout.pk).update(**fields)


def _queue_or_hold_for_funds(payout, actor=None, enqueue=True):
    """Reserve funds and queue; without enough funds hold (auto-released by a top-up)."""
    if not funding.reserve(payout):
        available = funding.get_account(payout.program, payout.currency).balance
        reason = HoldReason.of(Hold.FUNDS, amount=payout.amount, currency=payout.currency, available=available)
        _set_hold(payout, reason)
        return False
    moved = states.transition(
        payout,
        Status.QUEUED,
        actor=actor,
        updates={"hold": "", "hold_detail": "", "hold_params": {}, "next_attempt_at": timezone.now()},
    )
    if moved and enqueue:
        enqueue_processing([payout.pk])
    return moved


def enqueue_processing(payout_ids: Sequence[int]) -> None:
    """Schedule processing of these payouts after the current transaction commits."""
    from payouts.tasks import process_payouts_task

    ids = list(payout_ids)
    transaction.on_commit(lambda: process_payouts_task.delay(ids))


def _locked_payout(payout_id, program=None):
    queryset = Payout.objects.select_for_update()
    if program is not None:
        queryset = queryset.filter(program=program)
    try:
        return queryset.get(pk=payout_id)
    except Payout.DoesNotExist:
        raise PayoutError("Unknown payout.", code="not_found", status_code=404) from None


def user_can_approve(user: Any, program: Program) -> bool:
    """True when `user` may approve or reject `program`'s payouts: an active staff user with
    the payouts.approve_payout permission (superusers have every permission) who may see
    the program (engagement.tenancy: superusers, or staff limited to their programs)."""
    if not (user and user.is_active and user.is_staff and user.has_perm("payouts.approve_payout")):
        return False
    return allowed_programs(user).filter(pk=program.pk).exists()


def _check_approver(user, payout):
    if not (user and user.is_active and user.is_staff and user.has_perm("payouts.approve_payout")):
        raise PayoutError(
            _("You do not have permission to approve or reject payouts."),
            code="permission_denied",
            status_code=403,
        )
    if not user_can_approve(user, payout.program):
        raise PayoutError(
            _("This payout belongs to a program you do not manage."), code="permission_denied", status_code=403
        )


def _clean_reason(reason):
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise PayoutError(
            _("The reason is at most %(max)d characters.") % {"max": REASON_MAX_LENGTH}, code="too_long", attr="reason"
        )
    return reason


def approve_payout(payout_id: int, *, user: Any, reason: str = "") -> Payout:
    """Record `user`'s approval of a payout waiting in pending_approval; once enough
    different staff users approved (`approvals_required`: two with four eyes), reserve funds
    and queue it (or hold it for funds). Locks the payout row, so two approvers racing are
    counted one after the other. The requester cannot approve their own payout and one user
    approves once. Raises PayoutError (nothing changed) otherwise."""
    reason = _clean_reason(reason)
    with transaction.atomic():
        payout = _locked_payout(payout_id)
        _check_approver(user, payout)
        if payout.status != Status.PENDING_APPROVAL or payout.hold == Hold.FUNDS:
            raise PayoutError(_("This payout is not waiting for an approval."), code="not_pending")
        if payout.requested_by_id == user.pk:
            raise PayoutError(_("The requester cannot approve their own payout."), code="four_eyes")
        if payout.approvals.filter(user=user).exists():
            raise PayoutError(_("You already approved this payout; another staff user must."), code="four_eyes")
        PayoutApproval.objects.create(payout=payout, user=user, decision=PayoutApproval.Decision.APPROVE, reason=reason)
        if approval_count(payout) >= payout.approvals_required:
            _queue_or_hold_for_funds(payout, actor=user)
    return payout


def approval_count(payout: Payout) -> int:
    """How many staff users approved `payout` so far."""
    return payout.approvals.filter(decision=PayoutApproval.Decision.APPROVE).count()


def reject_payout(payout_id: int, *, user: Any, reason: str) -> Payout:
    """Cancel a payout waiting in pending_approval, recording who and why (reason required,
    at most 300 characters). One staff user's rejection is enough; a user who already
    approved it cannot also reject it (they may cancel it). Raises PayoutError (nothing
    changed) otherwise."""
    reason = _clean_reason(reason)
    if not reason:
        raise PayoutError(_("A reason is required to reject a payout."), code="required", attr="reason")
    with transaction.atomic():
        payout = _locked_payout(payout_id)
        _check_approver(user, payout)
        if payout.status != Status.PENDING_APPROVAL:
            raise PayoutError(_("This payout is not waiting for an approval."), code="not_pending")
        if payout.approvals.filter(user=user).exists():
            # One decision row per user and payout (a database constraint).
            raise PayoutError(
                _("You already approved this payout, so you cannot reject it; cancel it instead."),
                code="already_decided",
            )
        PayoutApproval.objects.create(payout=payout, user=user, decision=PayoutApproval.Decision.REJECT, reason=reason)
        states.transition(payout, Status.CANCELLED, reason=f"Rejected: {reason}", actor=user)
    return payout


def cancel_payout(payout_id: int, *, actor: Any = None, reason: str) -> Payout:
    """Cancel a payout not yet handed to a provider (pending_approval or queued)."""
    with transaction.atomic():
        payout = _locked_payout(payout_id)
        if payout.status not in (Status.PENDING_APPROVAL, Status.QUEUED):
            raise PayoutError("Only a payout not yet sent to the provider can be cancelled.", code="not_cancellable")
        states.transition(payout, Status.CANCELLED, reason=reason or "Cancelled", actor=actor)
    return payout


def reverse_payout(payout_id: int, *, actor: Any = None, reason: str) -> Payout:
    """Record that a succeeded payout was reversed (returned funds, chargeback)."""
    with transaction.atomic():
        payout = _locked_payout(payout_id)
        if payout.status != Status.SUCCEEDED:
            raise PayoutError("Only a succeeded payout can be reversed.", code="not_reversible")
        states.transition(payout, Status.REVERSED, reason=reason or "Reversed", actor=actor)
    return payout


def record_funding_top_up(
    program: Program, currency: str, amount: Decimal, *, actor: Any = None, note: str = ""
) -> FundingEntry:
    """Add funds; payouts held for funds are then queued (oldest first) by a task on commit."""
    with transaction.atomic():
        entry = funding.top_up(program, currency, amount, actor=actor, note=note)
        program_id = program.pk
        transaction.on_commit(lambda: _enqueue_release(program_id, currency))
    return entry


def _enqueue_release(program_id, currency):
    from payouts.tasks import release_funds_holds_task

    release_funds_holds_task.delay(program_id, currency)


def release_funds_holds(program_id: int, currency: str) -> int:
    """Queue payouts held for funds, oldest first, until one no longer fits; returns how many."""
    queued = 0
    held = Payout.objects.filter(
        program_id=program_id, currency=currency, status=Status.PENDING_APPROVAL, hold=Hold.FUNDS
    ).order_by("id")
    for payout_id in held.values_list("id", flat=True):
        with transaction.atomic():
            payout = _locked_payout(payout_id)
            if payout.status != Status.PENDING_APPROVAL or payout.hold != Hold.FUNDS:
                continue
            if not _queue_or_hold_for_funds(payout):
                break
            queued += 1
    return queued
