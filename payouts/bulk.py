"""Bulk payouts from a CSV upload: every row validated first, a report of the bad ones,
and only a fully valid file creates anything (one transaction: all rows or none).

Columns (header row required, names case-insensitive): customer, amount, method, and as the
method needs: currency (default: the program's), email, name, product, iban,
account_number, bank_code, account_name, vpa; optional reference (kept as source_ref).
"""

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Count

from engagement.currencies import is_iso_currency
from engagement.models import Customer
from payouts import services
from payouts.destinations import DestinationError, clean_destination
from payouts.models import Method, PayoutBatch, Status
from payouts.services import PayoutError
from payouts.states import FINAL

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
REQUIRED = ("customer", "amount", "method")
DESTINATION_FIELDS = ("email", "name", "product", "iban", "account_number", "bank_code", "account_name", "vpa")
CHUNK = 50


@dataclass
class RowError:
    line: int
    field: str
    message: str


@dataclass
class BulkPlan:
    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def total(self):
        return sum((row["amount"] for row in self.rows), Decimal("0"))


def parse_csv(program, data: bytes) -> BulkPlan:
    """Validate the whole file; returns the clean rows and every error (line numbers as in
    the file, the header being line 1). Writes nothing."""
    plan = BulkPlan()
    if len(data) > MAX_BYTES:
        plan.errors.append(RowError(0, "file", f"The file is larger than {MAX_BYTES // 1024} KB."))
        return plan
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        plan.errors.append(RowError(0, "file", "The file must be UTF-8 text."))
        return plan
    reader = csv.DictReader(io.StringIO(text))
    headers = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in headers]
    if missing:
        plan.errors.append(RowError(1, "header", f"Missing column(s): {', '.join(missing)}."))
        return plan
    reader.fieldnames = headers
    raw_rows = list(reader)
    if not raw_rows:
        plan.errors.append(RowError(1, "file", "The file has no rows."))
    if len(raw_rows) > MAX_ROWS:
        plan.errors.append(RowError(0, "file", f"At most {MAX_ROWS} rows per file."))
        return plan
    external_ids = {(row.get("customer") or "").strip() for row in raw_rows}
    customers = {c.external_id: c for c in Customer.objects.filter(program=program, external_id__in=external_ids)}
    for line, row in enumerate(raw_rows, start=2):
        clean = _clean_row(program, customers, line, row, plan.errors)
        if clean:
            plan.rows.append(clean)
    return plan


def _clean_row(program, customers, line, row, errors):
    row = {key: (value or "").strip() for key, value in row.items() if key}
    before = len(errors)
    customer = customers.get(row.get("customer", ""))
    if customer is None:
        errors.append(RowError(line, "customer", f"Unknown customer {row.get('customer', '')!r}."))
    try:
        amount = services._clean_amount(row.get("amount", ""))
    except PayoutError as exc:
        errors.append(RowError(line, "amount", exc.detail))
        amount = None
    currency = row.get("currency") or program.currency
    if not is_iso_currency(currency):
        errors.append(RowError(line, "currency", "Use an ISO 4217 code such as MYR."))
    method = row.get("method", "")
    destination = {name: row[name] for name in DESTINATION_FIELDS if row.get(name)}
    if method not in Method.values:
        errors.append(RowError(line, "method", f"Use one of {', '.join(Method.values)}."))
    else:
        try:
            clean_destination(method, destination)
        except DestinationError as exc:
            for name, messages in exc.message_dict.items():
                errors.append(RowError(line, name, messages[0]))
    if len(errors) > before:
        return None
    return {
        "line": line,
        "customer": customer,
        "amount": amount,
        "currency": currency,
        "method": method,
        "destination": destination,
        "reference": row.get("reference", "")[:100],
    }


def create_batch(program, plan, *, user=None, filename="") -> PayoutBatch:
    """Create the batch and all its payouts in one transaction (all or nothing), then
    enqueue processing in chunks on commit. Refuses a plan with errors."""
    if plan.errors or not plan.rows:
        raise PayoutError("Fix the file's errors first; nothing was created.", code="invalid_file")
    payout_ids = []
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            program=program,
            filename=filename[:200],
            uploaded_by=user,
            row_count=len(plan.rows),
            total_amount=plan.total,
        )
        for row in plan.rows:
            payout = services.request_payout(
                program=program,
                customer=row["customer"],
                amount=row["amount"],
                currency=row["currency"],
                method=row["method"],
                destination=row["destination"],
                source="bulk_upload",
                source_ref=row["reference"] or f"batch-{batch.pk}:{row['line']}",
                idempotency_key=f"bulk-{batch.pk}-{row['line']}",
                requested_by=user,
                batch=batch,
                enqueue=False,
            )
            if payout.status == Status.QUEUED:
                payout_ids.append(payout.pk)
        for start in range(0, len(payout_ids), CHUNK):
            services.enqueue_processing(payout_ids[start : start + CHUNK])
    return batch


def batch_progress(batch):
    """{"counts": {status: n}, "done": n, "total": n, "percent": int}."""
    counts = dict(batch.payouts.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    done = sum(counts.get(status, 0) for status in FINAL)
    total = batch.row_count or 0
    return {"counts": counts, "done": done, "total": total, "percent": int(100 * done / total) if total else 100}
