"""Reconciliation: our payouts vs a provider's statement for a period, mismatches listed.

Mismatch kinds:
- missing_at_provider: we think the provider has it (processing/succeeded/reversed with a
  call made) but the statement has no order with our reference;
- unknown_to_us: the statement has an order whose reference is none of our payouts;
- status: final states disagree (ours succeeded, theirs failed, ...);
- amount: amount or currency differ.
"""

import csv
import io
import logging
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.mail import send_mail
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payouts.funding import low_funds_recipients
from payouts.models import Payout, ReconciliationRun, Status
from payouts.providers import get_provider
from payouts.providers.base import Outcome, ProviderUnavailable, StatementLine

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


def reconcile(program, provider_name, start, end, lines=None):
    """Compare and store a ReconciliationRun (the admin lists them); returns it. `lines` is a
    statement read elsewhere (an imported CSV); by default the provider's API statement."""
    if lines is None:
        lines = get_provider(program, provider_name).statement(start, end)
    statement = {line.reference: line for line in lines}
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
            run = reconcile(payout.program, provider_name, start, end)
        except NotImplementedError:
            continue
        except ProviderUnavailable as exc:
            # One provider being down must not keep the others' runs from being made.
            logger.warning("No %s statement for %s: %s", provider_name, payout.program.slug, exc)
            continue
        runs.append(run)
        if run.mismatch_count:
            send_mismatch_alert(run)
    return runs


def send_mismatch_alert(run):
    """Email the program's payout staff what did not match (at most 20 lines of it)."""
    recipients = low_funds_recipients(run.program)
    if not recipients:
        return
    lines = [f"{m['kind']}: {m['reference']} ({m['our_status'] or '-'}) {m['detail']}" for m in run.mismatches[:20]]
    more = run.mismatch_count - len(lines)
    send_mail(
        f"[Ganjaran] Payout reconciliation: {run.mismatch_count} mismatch(es) at {run.provider} for {run.program.name}",
        f"Our payouts from {run.period_start:%Y-%m-%d %H:%M} to {run.period_end:%Y-%m-%d %H:%M} UTC compared with "
        f"the {run.provider} statement: {run.matched} matched, {run.mismatch_count} did not.\n\n"
        + "\n".join(lines)
        + (f"\n... and {more} more: see Payouts > Reconciliation runs in the admin." if more > 0 else ""),
        None,
        recipients,
    )


CSV_COLUMNS = ["reference", "provider_reference", "amount", "currency", "status"]
CSV_STATUSES = {o: o for o in (Outcome.PENDING, *Outcome.FINAL)}


class StatementFileError(ValueError):
    """A statement file that cannot be read; the message names the row and column."""


def read_statement_csv(text):
    """StatementLines from a provider statement exported as CSV with the header
    reference,provider_reference,amount,currency,status[,created_at] (status: pending,
    succeeded, failed, cancelled or reversed). Raises StatementFileError naming every bad row."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or any(column not in rows[0] for column in CSV_COLUMNS):
        raise StatementFileError(f"The first line must name the columns {', '.join(CSV_COLUMNS)}.")
    lines, errors = [], []
    for number, row in enumerate(rows, start=2):
        try:
            amount = Decimal(row["amount"].strip())
            if not amount.is_finite():
                raise InvalidOperation
        except (InvalidOperation, AttributeError):
            errors.append(f"line {number}: amount {row['amount']!r} is not a number")
            continue
        status = (row["status"] or "").strip().lower()
        if status not in CSV_STATUSES:
            errors.append(f"line {number}: status {row['status']!r} is not one of {', '.join(CSV_STATUSES)}")
            continue
        created = parse_datetime((row.get("created_at") or "").strip()) if row.get("created_at") else None
        lines.append(
            StatementLine(
                reference=row["reference"].strip(),
                provider_reference=(row["provider_reference"] or "").strip(),
                amount=amount.quantize(Decimal("0.01")),
                currency=(row["currency"] or "").strip().upper(),
                outcome=CSV_STATUSES[status],
                created_at=created,
            )
        )
    if errors:
        raise StatementFileError("; ".join(errors))
    return lines
