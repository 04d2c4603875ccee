"""Bulk rewarding: a CSV of points or catalogue rewards for up to 10,000 customers.

Columns (a header row; names case-insensitive): `customer` (external id), `points` or
`reward` (a catalogue item id of the program; exactly one of the two), `reason` (shown in
the customer's activity), optional `send_at` (RFC 3339, or YYYY-MM-DD meaning 09:00 in the
program's time zone; empty: at once).

- `read_grants_csv(program, data)` validates the whole file and writes nothing.
- `create_bulk_grant(...)` stores a valid file's rows in one transaction (all or nothing);
  the same file (by SHA-256) for the same program returns the first upload, so a repeated
  upload grants nothing twice.
- `grant_due_rows(bulk_id)` grants one batch of due rows in one transaction under the
  bulk's row lock: points through ledger.bulk_grant, rewards through
  redemptions.grant_reward, each with the key `bulk-grant:<bulk id>:<line>`, so a batch
  retried after a crash grants nothing twice. A reward that cannot be given any more (out
  of stock, withdrawn) marks its row failed with the reason; the other rows go on.
"""

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from engagement.models import Customer
from rewards import ledger, redemptions
from rewards.errors import RewardsError
from rewards.models import BulkGrant, BulkGrantRow, RewardItem

MAX_ROWS = 10_000
MAX_BYTES = 4 * 1024 * 1024
MAX_POINTS = 10_000_000  # per row: a typo of extra zeros is refused, not granted
BATCH = 500
SEND_HOUR = time(9, 0)


@dataclass
class RowError:
    line: int
    field: str
    message: str


@dataclass
class GrantPlan:
    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    sha256: str = ""

    @property
    def points_total(self):
        return sum(row["points"] or 0 for row in self.rows)


def read_grants_csv(program, data: bytes) -> GrantPlan:
    """Every row checked; the clean rows and every error (lines numbered as in the file,
    the header being line 1). Writes nothing."""
    plan = GrantPlan(sha256=hashlib.sha256(data).hexdigest())
    if len(data) > MAX_BYTES:
        plan.errors.append(RowError(0, "file", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."))
        return plan
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        plan.errors.append(RowError(0, "file", "The file must be UTF-8 text."))
        return plan
    if "\x00" in text:
        plan.errors.append(RowError(0, "file", "The file must be text (it holds a NUL byte)."))
        return plan
    reader = csv.DictReader(io.StringIO(text))
    headers = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in ("customer", "reason") if name not in headers]
    if "points" not in headers and "reward" not in headers:
        missing.append("points or reward")
    if missing:
        plan.errors.append(RowError(1, "header", f"Missing column(s): {', '.join(missing)}."))
        return plan
    reader.fieldnames = headers
    raw = list(reader)
    if not raw:
        plan.errors.append(RowError(1, "file", "The file has no rows."))
    if len(raw) > MAX_ROWS:
        plan.errors.append(RowError(0, "file", f"At most {MAX_ROWS:,} rows per file; this one has {len(raw):,}."))
        return plan
    cells = [{k: (v or "").strip() for k, v in row.items() if k} for row in raw]
    customers = _by_key(Customer.objects.filter(program=program), "external_id", {c.get("customer") for c in cells})
    items = _items(program, {c.get("reward") for c in cells})
    zone = ZoneInfo(program.timezone)
    for line, row in enumerate(cells, start=2):
        clean = _clean_row(row, line, customers, items, zone, plan.errors)
        if clean:
            plan.rows.append(clean)
    return plan


def _by_key(queryset, name, values):
    values = {v for v in values if v}
    return {getattr(obj, name): obj for obj in queryset.filter(**{f"{name}__in": values})}


def _items(program, ids):
    wanted = {int(i) for i in ids if i and i.isdigit() and len(i) < 10}
    return {str(item.pk): item for item in RewardItem.objects.filter(program=program, pk__in=wanted)}


def _clean_row(row, line, customers, items, zone, errors):
    before = len(errors)
    customer = customers.get(row.get("customer", ""))
    if customer is None:
        errors.append(RowError(line, "customer", f"Unknown customer {row.get('customer', '')!r}."))
    points_text, reward_text = row.get("points", ""), row.get("reward", "")
    points, item = None, None
    if bool(points_text) == bool(reward_text):
        errors.append(RowError(line, "points", "Give either points or a reward, not both or neither."))
    elif points_text:
        if not points_text.isdigit() or not 0 < int(points_text) <= MAX_POINTS:
            errors.append(RowError(line, "points", f"Points are a whole number from 1 to {MAX_POINTS:,}."))
        else:
            points = int(points_text)
    else:
        item = items.get(reward_text)
        if item is None:
            errors.append(RowError(line, "reward", f"No reward {reward_text!r} in this program's catalogue."))
        elif not item.active:
            errors.append(RowError(line, "reward", f"The reward {item.title_en!r} is not active."))
    reason = row.get("reason", "")
    if not reason or len(reason) > 200:
        errors.append(RowError(line, "reason", "A reason of 1 to 200 characters is required."))
    send_at = _send_at(row.get("send_at", ""), zone)
    if send_at is False:
        errors.append(RowError(line, "send_at", "Use an RFC 3339 time with offset or a date (YYYY-MM-DD)."))
    if len(errors) > before:
        return None
    return {"line": line, "customer": customer, "points": points, "item": item, "reason": reason, "send_at": send_at}


def _send_at(text, zone):
    """None (at once), an aware datetime, or False when unreadable."""
    if not text:
        return None
    try:
        day = parse_date(text) if len(text) == 10 else None
        if day is None:
            moment = parse_datetime(text)
            return moment if moment is not None and moment.tzinfo else False
    except ValueError:
        return False
    if day is None or not 2000 <= day.year <= 2100:
        return False
    return datetime.combine(day, SEND_HOUR, tzinfo=zone)


def create_bulk_grant(program, plan, *, filename="", user=None):
    """Store the plan's rows (all or none) and schedule their granting; returns
    (bulk, created). The same file again returns the first upload with created False.
    Refuses a plan with errors (RewardsError, nothing written)."""
    if plan.errors or not plan.rows:
        raise RewardsError("Fix the file's errors first; nothing was created.")
    existing = BulkGrant.objects.filter(program=program, sha256=plan.sha256).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            bulk = BulkGrant.objects.create(
                program=program,
                filename=filename[:200],
                sha256=plan.sha256,
                uploaded_by=user,
                row_count=len(plan.rows),
                points_total=plan.points_total,
            )
            BulkGrantRow.objects.bulk_create(
                BulkGrantRow(
                    bulk=bulk,
                    line=row["line"],
                    customer=row["customer"],
                    points=row["points"],
                    item=row["item"],
                    reason=row["reason"],
                    send_at=row["send_at"],
                )
                for row in plan.rows
            )
            transaction.on_commit(lambda: _enqueue(bulk.pk))
    except IntegrityError:
        # The same file uploaded concurrently: the other upload won.
        return BulkGrant.objects.get(program=program, sha256=plan.sha256), False
    return bulk, True


def _enqueue(bulk_id):
    from rewards.tasks import grant_bulk_task

    grant_bulk_task.delay(bulk_id)


def _key(bulk_id, line):
    return f"bulk-grant:{bulk_id}:{line}"


def grant_due_rows(bulk_id, now=None, limit=BATCH):
    """Grant up to `limit` due rows of one bulk grant in one transaction; returns how many
    rows it settled (0: nothing due). Safe to run twice at once: the bulk row is locked."""
    now = now or timezone.now()
    with transaction.atomic():
        bulk = BulkGrant.objects.select_for_update().select_related("program").get(pk=bulk_id)
        due = Q(send_at__isnull=True) | Q(send_at__lte=now)
        rows = list(
            bulk.rows.filter(due, done_at__isnull=True).select_related("customer", "item").order_by("line")[:limit]
        )
        if rows:
            failed = _grant(bulk, rows, now)
            BulkGrantRow.objects.filter(pk__in=[r.pk for r in rows if not r.error]).update(done_at=now)
            for row in rows:
                if row.error:
                    BulkGrantRow.objects.filter(pk=row.pk).update(done_at=now, error=row.error)
            BulkGrant.objects.filter(pk=bulk.pk).update(
                rows_done=F("rows_done") + len(rows) - failed, rows_failed=F("rows_failed") + failed
            )
        settled = bulk.rows_done + bulk.rows_failed + len(rows)
        if settled >= bulk.row_count:
            status = BulkGrant.Status.COMPLETED
        else:
            status = BulkGrant.Status.PROCESSING if settled else BulkGrant.Status.SCHEDULED
        BulkGrant.objects.filter(pk=bulk.pk).update(
            status=status, completed_at=now if status == BulkGrant.Status.COMPLETED else None
        )
    return len(rows)


def _grant(bulk, rows, now):
    """Grant the rows; returns how many failed (their `error` set)."""
    points_rows = [row for row in rows if row.points]
    if points_rows:
        grants = [
            ledger.Grant(
                customer=row.customer,
                points=row.points,
                reason=row.reason,
                idempotency_key=_key(bulk.pk, row.line),
                actor=bulk.uploaded_by,
                source=("bulk_grant", f"{bulk.pk}:{row.line}"),
            )
            for row in points_rows
        ]
        ledger.bulk_grant(bulk.program, grants, now=now, notify=True)
    failed = 0
    for row in rows:
        if row.item_id is None:
            continue
        try:
            with transaction.atomic():
                redemptions.grant_reward(
                    customer=row.customer, item=row.item, idempotency_key=_key(bulk.pk, row.line), source="admin"
                )
        except RewardsError as exc:
            row.error = str(exc.message)[:300]
            failed += 1
    return failed


def list_due_bulk_ids(now=None):
    """Bulk grants with rows due now (for the beat sweep: scheduled sends, lost tasks)."""
    now = now or timezone.now()
    due = BulkGrantRow.objects.filter(done_at__isnull=True).filter(Q(send_at__isnull=True) | Q(send_at__lte=now))
    return sorted(set(due.values_list("bulk_id", flat=True)))


def progress(bulk):
    """{"done", "failed", "total", "percent", "scheduled"}: rows settled, failed, in the file,
    the share settled, and rows waiting for a later send time."""
    settled = bulk.rows_done + bulk.rows_failed
    waiting = bulk.rows.filter(done_at__isnull=True, send_at__gt=timezone.now()).count()
    total = bulk.row_count
    return {
        "done": bulk.rows_done,
        "failed": bulk.rows_failed,
        "total": total,
        "percent": int(100 * settled / total) if total else 100,
        "scheduled": waiting,
    }
