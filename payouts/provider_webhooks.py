"""Applying verified provider webhooks to payouts.

The view verifies the signature first (payouts.views); nothing here runs for a bad one.
Each (program, provider, event id) is applied once: the receipt row's unique insert is the claim.
"""

from django.db import IntegrityError, transaction

from payouts import processing
from payouts.models import Payout, ProviderWebhookReceipt, Status, Step
from payouts.providers.base import Outcome


def apply_webhook_update(program, provider_name, update, payload=None):
    """Apply one status update; returns a short result ("succeeded", "duplicate", ...)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                receipt = ProviderWebhookReceipt.objects.create(
                    provider=provider_name, event_id=update.event_id, program=program, payload=payload or {}
                )
        except IntegrityError:
            return "duplicate"
        result = _apply(program, provider_name, update)
        receipt.result = result
        receipt.save(update_fields=["result"])
    return result


def _apply(program, provider_name, update):
    payout = (
        Payout.objects.select_for_update()
        .filter(program=program, provider=provider_name, reference=update.reference)
        .first()
    )
    if payout is None:
        return "unknown reference"
    refs = {}
    if update.provider_reference:
        refs["provider_reference"] = update.provider_reference
    if update.provider_status:
        refs["provider_status"] = update.provider_status[:64]
    outcome = update.outcome
    if payout.status == Status.PROCESSING:
        if outcome in Outcome.FINAL:
            processing.finish(payout, outcome, reason=f"Provider: {update.provider_status}", updates=refs)
            return outcome
        if outcome == Outcome.PENDING:
            Payout.objects.filter(pk=payout.pk).update(step=Step.WAIT, unknown_since=None, **refs)
            return "pending"
    if payout.status == Status.SUCCEEDED and outcome in (Outcome.REVERSED, Outcome.FAILED):
        processing.finish(payout, Outcome.REVERSED, reason=f"Provider: {update.provider_status}")
        return "reversed"
    return f"ignored ({payout.status})"
