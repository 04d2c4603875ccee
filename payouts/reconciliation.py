"""Reconciliation: our payouts vs a provider's statement for a period, mismatches listed.

Mismatch kinds:
- missing_at_provider: we think the provider has it (processing/succeeded/reversed with a
  call made) but the statement has no order with our reference;
- unknown_to_us: the statement has an order whose reference is none of our payouts;
- status: final states disagree (ours succeeded, theirs failed, ...);
- amount: amount or currency differ.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from payouts.models import Payout, ReconciliationRun, Status
from payouts.providers import get_provider
from payouts.providers.base import Outcome, ProviderUnavailable

logger = logging.getLogger(__name__)

# Our status -> the provider outcomes that agree with it.
AGREES = {
    Status.SUCCEEDED: {Outcome.SUCCEEDED},
    Status.REVERSED: {Outcome.REVERSED, Outcome.FAILED},
    Status.FAILED: {Outcome.FAILED},
    Status.CANCELLED: {Outcome.CANCELLED, Outcome.FAILED},
    Status.PROCESSING: {Outcome.PENDING, Outcome.SUCCEEDED, Outcome.FAILED, Outcome.CANCELLED},
    Status.QUEUED: {Outcome.PENDING},
}
EXPECTED_AT_PROVIDER = [Status.SUCCEEDED, Status.REVERSED]


def reconcile(program, provider_name, start, end):
    """Compare and store a ReconciliationRun (the admin lists them); returns it."""
    statement = {line.reference: line for line in get_provider(program, provider_name).statement(start, end)}
    ours = Payout.objects.filter(program=program, provider=provider_name, created_at__gte=start, created_at__lt=end)
    references = set(statement)
    mismatches, matched = [], 0
    for payout in ours.select_related("customer").order_by("id"):
        line = statement.get(payout.reference)
        base = {"payout": payout.pk, "reference": payout.reference, "our_status": payout.status}
        if line is None:
            if payout.status in EXPECTED_AT_PROVIDER:
                mismatches.append({**base, "kind": "missing_at_provider", "detail": "No provider order."})
            continue
        references.discard(payout.reference)
        if (line.amount, line.currency) != (payout.amount, payout.currency):
            detail = f"Ours {payout.amount} {payout.currency}, theirs {line.amount} {line.currency}."
            mismatches.append({**base, "kind": "amount", "detail": detail})
        elif line.outcome not in AGREES.get(payout.status, set()):
            mismatches.append({**base, "kind": "status", "detail": f"Provider says {line.outcome}."})
        else:
            matched += 1
    for reference in sorted(references):
        line = statement[reference]
        detail = f"{line.amount} {line.currency} {line.outcome} ({line.provider_reference})"
        mismatches.append(
            {"payout": None, "reference": reference, "our_status": "", "kind": "unknown_to_us", "detail": detail}
        )
    return ReconciliationRun.objects.create(
        program=program,
        provider=provider_name,
        period_start=start,
        period_end=end,
        matched=matched,
        mismatches=mismatches,
    )


def reconcile_recent(days=1, now=None):
    """Reconcile the last `days` for every program/provider pair that has payouts in it."""
    end = now or timezone.now()
    start = end - timedelta(days=days)
    pairs = (
        Payout.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("program_id", "provider")
        .distinct()
    )
    runs = []
    for program_id, provider_name in sorted(set(pairs)):
        payout = Payout.objects.select_related("program").filter(program_id=program_id).first()
        try:
            runs.append(reconcile(payout.program, provider_name, start, end))
        except NotImplementedError:
            continue
        except ProviderUnavailable as exc:
            # One provider being down must not keep the others' runs from being made.
            logger.warning("No %s statement for %s: %s", provider_name, payout.program.slug, exc)
    return runs
