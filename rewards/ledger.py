"""The points ledger: the ONLY module that writes LedgerEntry rows, PointsAccount balances
and PointsLot remainders (STYLE.md).

Concurrency: every write first locks the affected PointsAccount rows (`lock_accounts`:
`SELECT … ORDER BY id FOR UPDATE`, a fixed order, so two batches never deadlock), then
reads the balance, then changes it by adding in the database (`F()`, `balance + delta`)
under that lock. Lots of an account are only
touched while its account row is locked. A CHECK constraint keeps balances >= 0 even if a
bug slipped through. Idempotency keys are UNIQUE per program in the database.
"""

import calendar
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Sum
from django.utils import timezone

from engagement.bulk import server_side_cursor
from engagement.models import Customer, Program
from engagement.webhooks.events import record_webhook_events_from_query
from rewards import activity
from rewards.errors import InsufficientPoints, InvalidPoints
from rewards.models import (
    Clawback,
    EntryKind,
    ExpiryRounding,
    LedgerEntry,
    PointsAccount,
    PointsLot,
    Redemption,
    RewardsSettings,
)
from rewards.notify import webhook

logger = logging.getLogger(__name__)


# --- helpers that shape inputs -------------------------------------------------------------


def source_parts(source: object) -> tuple[str, str]:
    """(source_type, source_id) from a model instance, a (type, id) pair, "type:id" or None."""
    if source is None:
        return "", ""
    if isinstance(source, models.Model):
        return source._meta.label_lower, str(source.pk)
    if isinstance(source, tuple | list):
        return str(source[0])[:40], str(source[1])[:128]
    kind, _sep, ident = str(source).partition(":")
    return kind[:40], ident[:128]


def actor_parts(actor: object) -> tuple[Any, str]:
    """(user or None, label) from a User, a string label or None."""
    if actor is None:
        return None, "system"
    if isinstance(actor, get_user_model()):
        return actor, actor.get_username()[:100]
    return None, str(actor)[:100]


def round_expiry(program: Program, moment: datetime | None) -> datetime | None:
    """Round an expiry up to the end of the day or month in the program's time zone."""
    if moment is None:
        return None
    rounding = RewardsSettings.get_for(program).expiry_rounding
    if rounding == ExpiryRounding.NONE:
        return moment
    import zoneinfo

    local = moment.astimezone(zoneinfo.ZoneInfo(program.timezone))
    day = local.date()
    if rounding == ExpiryRounding.MONTH:
        day = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    end = datetime.combine(day, time(23, 59, 59), tzinfo=local.tzinfo)
    return end.astimezone(UTC)


def default_expiry(program: Program, now: datetime) -> datetime | None:
    days = RewardsSettings.get_for(program).points_validity_days
    return round_expiry(program, now + timedelta(days=days)) if days else None


# --- accounts and locks --------------------------------------------------------------------


def get_account(customer: Customer) -> PointsAccount:
    """The customer's account, created (balance 0) on first use; not locked."""
    account = PointsAccount.objects.filter(customer=customer).first()
    if account is None:
        PointsAccount.objects.bulk_create(
            [PointsAccount(program_id=customer.program_id, customer=customer)], ignore_conflicts=True
        )
        account = PointsAccount.objects.get(customer=customer)
    return account


def lock_accounts(customers: Iterable[Customer]) -> dict[int, PointsAccount]:
    """Create missing accounts, then lock them all in pk order; returns {customer_id: account}.

    Must run inside a transaction. Two statements whatever the number of customers.
    """
    ids = sorted({c.pk for c in customers})
    table, fields = PointsAccount._meta.db_table, PointsAccount._meta.concrete_fields
    with connection.cursor() as cursor:
        # Missing accounts inserted in customer-id order: two batches creating accounts for
        # overlapping customers in different orders deadlocked on the unique index. NOT EXISTS
        # first: ON CONFLICT alone would draw a sequence value for every existing account.
        cursor.execute(
            f"INSERT INTO {table} (program_id, customer_id, balance, pending, updated_at)"
            f" SELECT c.program_id, c.id, 0, 0, %s FROM {Customer._meta.db_table} AS c"
            f" WHERE c.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM {table} AS a WHERE a.customer_id = c.id)"
            " ORDER BY c.id ON CONFLICT (customer_id) DO NOTHING",
            [timezone.now(), ids],
        )
        cursor.execute(
            f"SELECT {', '.join(str(f.column) for f in fields)} FROM {table}"
            " WHERE customer_id = ANY(%s) ORDER BY id FOR UPDATE",
            [ids],
        )
        rows = cursor.fetchall()
    names = [f.attname for f in fields]
    accounts = (PointsAccount.from_db(connection.alias, names, row) for row in rows)
    return {account.customer_id: account for account in accounts}


def _move(account, points=0, pending=0):
    # F() under the row lock: the database adds, so nothing read earlier can be written back.
    PointsAccount.objects.filter(pk=account.pk).update(
        balance=F("balance") + points, pending=F("pending") + pending, updated_at=timezone.now()
    )
    account.balance += points
    account.pending += pending


def _entry(account, customer_id, kind, points, reason, key, *, pending=0, actor=None, source=None, **extra):
    user, label = actor_parts(actor)
    source_type, source_id = source_parts(source)
    return LedgerEntry(
        program_id=account.program_id,
        account=account,
        customer_id=customer_id,
        kind=kind,
        points=points,
        pending_points=pending,
        balance_after=account.balance + points,
        reason=str(reason)[:255],
        # A rewards.activity.Reason carries what the customer reads; plain text has no code.
        message_code=getattr(reason, "code", ""),
        message_params=getattr(reason, "params", {}),
        actor=user,
        actor_label=label,
        source_type=source_type,
        source_id=source_id,
        idempotency_key=key[:255],
        **extra,
    )


def _existing(program_id, key):
    return LedgerEntry.objects.filter(program_id=program_id, idempotency_key=key).first()


# --- crediting -----------------------------------------------------------------------------


@dataclass
class Grant:
    customer: Customer
    points: int
    reason: str
    idempotency_key: str
    actor: object = None
    source: object = None
    expires_at: datetime | None = None
    pending_until: datetime | None = None
    kind: str = EntryKind.EARN
    # When the points were earned (the purchase time); default now. Expiry counts from it.
    earned_at: datetime | None = None
    # Webhook reward.granted for the new entry even when bulk_grant's `notify` is off.
    notify: bool = False


def bulk_grant(
    program: Program, grants: Sequence[Grant], *, now: datetime | None = None, notify: bool = False
) -> list[LedgerEntry]:
    """Credit many grants in one transaction; returns the entries (existing ones for keys
    already used). Set-based: one lock query, one statement inserting the entries and their
    lots, one UPDATE of the balances. Expiry: given -> rounded; absent -> the program's default.
    Pending grants (pending_until in the future) go to `pending`, not the balance.
    Webhook reward.granted for each new entry when `notify` or its grant's `notify` is set.
    """
    now = now or timezone.now()
    for grant in grants:
        if not isinstance(grant.points, int) or isinstance(grant.points, bool) or grant.points <= 0:
            raise InvalidPoints()
    with transaction.atomic():
        accounts = lock_accounts([g.customer for g in grants])
        found = _entries_by_key(program, [g.idempotency_key for g in grants])
        rows, fresh = [], []
        for grant in grants:
            if grant.idempotency_key in found:
                continue
            row = _entry_row(program, accounts[grant.customer.pk], grant, now)
            found[grant.idempotency_key] = row  # a key repeated within the call: one entry
            rows.append(row)
            fresh.append(grant)
        entries = _insert_entries_and_lots(program, rows, fresh, accounts, now)
        for grant, entry in zip(fresh, entries, strict=True):
            found[grant.idempotency_key] = entry
        _flush_tracked(accounts.values())
        notified = [entry for grant, entry in zip(fresh, entries, strict=True) if notify or grant.notify]
        if notified:
            _notify_granted(program, notified)
    return [found[g.idempotency_key] for g in grants]


def _entries_by_key(program, keys):
    """{key: LedgerEntry} of the keys already used. The keys go as ONE array parameter (an
    IN list of ~800 keys cost ~4 ms of Python per batch to build and quote) and only the
    entries found, usually none, are loaded as model instances."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {LedgerEntry._meta.db_table} WHERE program_id = %s AND idempotency_key = ANY(%s)",
            [program.pk, sorted(set(keys))],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return {}
    return {entry.idempotency_key: entry for entry in LedgerEntry.objects.filter(pk__in=ids)}


# The columns bulk_grant writes, in LedgerEntry's field order (`id` and `redemption` left out).
_ENTRY_COLUMNS = (
    "account_id", "customer_id", "kind", "points", "pending_points", "balance_after", "reason", "message_code",
    "message_params", "actor_id", "actor_label", "source_type", "source_id", "idempotency_key", "expires_at",
    "pending_until", "created_at",
)  # fmt: skip


def _entry_row(program, account, grant, now):
    """One new entry's column values (_ENTRY_COLUMNS); moves the account's in-memory balance."""
    earned_at = grant.earned_at or now
    pending = grant.pending_until is not None and grant.pending_until > now
    expires = round_expiry(program, grant.expires_at) if grant.expires_at else default_expiry(program, earned_at)
    points, held = (0, grant.points) if pending else (grant.points, 0)
    user, label = actor_parts(grant.actor)
    source_type, source_id = source_parts(grant.source)
    reason = grant.reason
    row = (
        account.pk, grant.customer.pk, grant.kind, points, held, account.balance + points, str(reason)[:255],
        # A rewards.activity.Reason carries what the customer reads; plain text has no code.
        getattr(reason, "code", ""), getattr(reason, "params", {}), user.pk if user else None, label,
        source_type, source_id, grant.idempotency_key[:255], expires, grant.pending_until if pending else None,
        earned_at,
    )  # fmt: skip
    _track(account, points, held)
    return row


def _insert_entries_and_lots(program, rows, grants, accounts, now):
    """INSERT the entries and, from what that returns, their lots, in ONE statement: each
    column one binary array (engagement.bulk), no model instance before the insert.
    Returns the new LedgerEntry objects in the order of `rows`."""
    if not rows:
        return []
    fields = [LedgerEntry._meta.get_field(name) for name in _ENTRY_COLUMNS]  # by name or attname
    columns = [list(column) for column in zip(*rows, strict=True)]
    params = columns[_ENTRY_COLUMNS.index("message_params")]
    columns[_ENTRY_COLUMNS.index("message_params")] = [json.dumps(value) for value in params]  # cast per row
    casts = ", ".join(
        f"%b::{'text' if name == 'message_params' else field.db_type(connection)}[]"
        for name, field in zip(_ENTRY_COLUMNS, fields, strict=True)
    )
    selected = ", ".join(f"u.{name}::jsonb" if name == "message_params" else f"u.{name}" for name in _ENTRY_COLUMNS)
    entries_table, lots_table = LedgerEntry._meta.db_table, PointsLot._meta.db_table
    sql = (
        f"WITH e AS (INSERT INTO {entries_table} (program_id, {', '.join(_ENTRY_COLUMNS)})"
        f" SELECT %s, {selected} FROM unnest({casts}) AS u({', '.join(_ENTRY_COLUMNS)})"
        " RETURNING id, idempotency_key, program_id, account_id, points, pending_points, expires_at, pending_until),"
        f" l AS (INSERT INTO {lots_table}"
        " (program_id, account_id, entry_id, status, points, remaining, expires_at, available_at, created_at)"
        " SELECT program_id, account_id, id,"
        " CASE WHEN pending_until IS NULL THEN %s ELSE %s END, points + pending_points, points + pending_points,"
        " expires_at, COALESCE(pending_until, %s), %s FROM e)"
        " SELECT idempotency_key, id FROM e"
    )
    values = [program.pk, *columns, PointsLot.Status.AVAILABLE.value, PointsLot.Status.PENDING.value, now, now]
    # wrap_database_errors: IntegrityError / DataError / OperationalError as Django's.
    with connection.wrap_database_errors, server_side_cursor() as cursor:
        cursor.execute(sql, values)
        ids = dict(cursor.fetchall())
    entries = []
    for row, grant in zip(rows, grants, strict=True):
        # Positional arguments: Django's fast path of Model.__init__ (field order).
        entry = LedgerEntry(ids[row[13]], program.pk, *row[:13], row[13], None, *row[14:])
        entry._state.adding, entry._state.db = False, connection.alias
        entry._state.fields_cache["account"] = accounts[grant.customer.pk]
        if isinstance(grant.customer, Customer):
            entry._state.fields_cache["customer"] = grant.customer  # the payload's external_id without a query
        entries.append(entry)
    return entries


def _notify_granted(program, entries):
    """Webhook reward.granted for each new entry, in one statement: the payloads are built by
    PostgreSQL from the entries just inserted (docs/webhooks.md's reward.granted: customer,
    kind, points with the pending ones, pending, reason, ledger_entry, balance), in entry order."""
    customers, ledger = Customer._meta.db_table, LedgerEntry._meta.db_table
    record_webhook_events_from_query(
        program,
        "reward.granted",
        f"""SELECT jsonb_build_object('customer', c.external_id, 'kind', 'points',
                       'points', e.points + e.pending_points, 'pending', e.pending_points <> 0,
                       'reason', e.reason, 'ledger_entry', e.id, 'balance', e.balance_after) AS payload,
                   'reward.granted:ledger:' || e.id AS idempotency_key
            FROM {ledger} e JOIN {customers} c ON c.id = e.customer_id
            WHERE e.id = ANY(%b::bigint[]) ORDER BY e.id""",
        [[entry.pk for entry in entries]],
    )


def _track(account, points, pending):
    account._delta = getattr(account, "_delta", (0, 0))
    account._delta = (account._delta[0] + points, account._delta[1] + pending)
    # Keep the in-memory balance current so the next entry's balance_after is right.
    account.balance += points
    account.pending += pending


def _flush_tracked(accounts):
    """Write the tracked deltas: one UPDATE for all accounts.

    The database adds (balance + delta) under the row locks the caller holds."""
    changed = []
    for account in accounts:
        points, pending = getattr(account, "_delta", (0, 0))
        if points or pending:
            changed.append((account.pk, points, pending))
        account._delta = (0, 0)
    if not changed:
        return
    now = timezone.now()
    if len(changed) > 1:
        ids, points, pending = (list(column) for column in zip(*changed, strict=True))
        table = PointsAccount._meta.db_table
        # Binary arrays bound server-side (engagement.bulk): no per-element quoting in Python.
        with connection.wrap_database_errors, server_side_cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS a SET balance = a.balance + d.points, pending = a.pending + d.pending,"
                " updated_at = %s"
                " FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[]) AS d(id, points, pending)"
                " WHERE a.id = d.id",
                [now, ids, points, pending],
            )
        return
    for pk, points, pending in changed:
        PointsAccount.objects.filter(pk=pk).update(
            balance=F("balance") + points, pending=F("pending") + pending, updated_at=now
        )


def grant_points(
    *,
    customer: Customer,
    points: int,
    reason: str,
    idempotency_key: str,
    actor: object = None,
    source: object = None,
    expires_at: datetime | None = None,
    pending_until: datetime | None = None,
) -> LedgerEntry:
    """Credit `points` (> 0) to the customer as an `earn` entry plus a lot.

    Idempotent by (program, idempotency_key): a repeat returns the first entry and grants
    nothing. Locks the account row. `pending_until` in the future holds the points as
    pending until the beat releases them. Records webhook `reward.granted` (on commit).
    Raises InvalidPoints for points <= 0.
    """
    grant = Grant(customer, points, reason, idempotency_key, actor, source, expires_at, pending_until)
    try:
        with transaction.atomic():
            return bulk_grant(customer.program, [grant], notify=True)[0]
    except IntegrityError:
        # Another transaction committed the same key between our check and insert.
        existing = _existing(customer.program_id, idempotency_key)
        if existing is None:
            raise
        return existing


# --- debiting ------------------------------------------------------------------------------


def _consume(account, points):
    """Take `points` from available lots, soonest expiry first (never-expiring last).

    Returns the latest expiry among the lots used (None if a never-expiring lot was used),
    so a refund can give the points back with no longer a life than they had.
    """
    lots = (
        PointsLot.objects.select_for_update()
        .filter(account=account, status=PointsLot.Status.AVAILABLE, remaining__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )
    left, latest, unlimited = points, None, False
    for lot in lots:
        if left <= 0:
            break
        take = min(lot.remaining, left)
        PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        left -= take
        if lot.expires_at is None:
            unlimited = True
        elif latest is None or lot.expires_at > latest:
            latest = lot.expires_at
    if left:
        # Lots and balance disagree: refuse rather than write a broken ledger.
        raise RuntimeError(f"Account {account.pk}: lots hold {points - left} of {points} points")
    return None if unlimited else latest


def debit_points(
    customer: Customer,
    points: int,
    *,
    kind: str,
    reason: str,
    idempotency_key: str,
    actor: object = None,
    source: object = None,
    redemption: Redemption | None = None,
) -> LedgerEntry:
    """Debit `points` (> 0) from the customer's balance; call inside the caller's transaction.

    Locks the account, checks the balance AFTER the lock, consumes lots. Raises
    InsufficientPoints (nothing changed) when the balance is short. Idempotent by key.
    """
    if not isinstance(points, int) or points <= 0:
        raise InvalidPoints()
    with transaction.atomic():
        # One locking read: a customer without an account has nothing to debit (no account is
        # created for a debit, unlike lock_accounts).
        account = PointsAccount.objects.select_for_update().filter(customer_id=customer.pk).first()
        existing = _existing(customer.program_id, idempotency_key)
        if existing is not None:
            return existing
        if account is None or account.balance < points:
            raise InsufficientPoints()
        latest = _consume(account, points)
        entry = _entry(
            account, customer.pk, kind, -points, reason, idempotency_key,
            actor=actor, source=source, redemption=redemption, expires_at=latest,
        )  # fmt: skip
        entry.save()
        _move(account, -points)
        return entry


def adjust_points(*, customer: Customer, points: int, reason: str, actor: object, idempotency_key: str) -> LedgerEntry:
    """A signed manual adjustment with a required reason (admin, API).

    Positive: an `adjust` credit with the program's default expiry. Negative: an `adjust`
    debit that cannot overdraw (InsufficientPoints, nothing changed). Idempotent by key.
    """
    if not str(reason or "").strip():
        raise InvalidPoints("A reason is required.")
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise InvalidPoints()
    if points > 0:
        grant = Grant(customer, points, reason, idempotency_key, actor, None, kind=EntryKind.ADJUST)
        with transaction.atomic():
            return bulk_grant(customer.program, [grant])[0]
    return debit_points(customer, -points, kind=EntryKind.ADJUST, reason=reason, idempotency_key=idempotency_key,
                        actor=actor)  # fmt: skip


def return_points(
    *,
    customer: Customer,
    points: int,
    reason: str,
    idempotency_key: str,
    expires_at: datetime | None,
    source: object = None,
    redemption: Redemption | None = None,
) -> LedgerEntry:
    """Credit spent points given back: a `refund` entry plus a lot expiring at `expires_at`
    (no later than the points it replaces; None = never). Idempotent by key; locks the account.
    """  # fmt: skip
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidPoints()
    with transaction.atomic():
        account = lock_accounts([customer])[customer.pk]
        existing = _existing(customer.program_id, idempotency_key)
        if existing is not None:
            return existing
        entry = _entry(
            account, customer.pk, EntryKind.REFUND, points, reason, idempotency_key,
            source=source, redemption=redemption, expires_at=expires_at,
        )  # fmt: skip
        entry.save()
        PointsLot.objects.create(
            program_id=account.program_id, account=account, entry=entry, points=points, remaining=points,
            expires_at=expires_at, available_at=timezone.now(),
        )  # fmt: skip
        _move(account, points)
        return entry


def refund_redemption_points(redemption: Redemption, reason: str) -> LedgerEntry | None:
    """Give a failed redemption's points back (`refund` entry + a new lot that expires no
    later than the points it replaces). Idempotent per redemption. Inside the caller's
    transaction, which must hold the redemption row lock.
    """
    debit = LedgerEntry.objects.filter(redemption=redemption, kind=EntryKind.REDEEM).first()
    if debit is None:
        return None
    return return_points(
        customer=redemption.customer, points=-debit.points, reason=reason,
        idempotency_key=f"refund:redemption:{redemption.pk}", expires_at=debit.expires_at,
        source=redemption, redemption=redemption,
    )  # fmt: skip


# --- beat work: expiry and release ---------------------------------------------------------


def expire_points(now: datetime | None = None, *, program: Program | None = None, limit: int = 500) -> int:
    """Expire available lots whose time has come: one `expire` entry per account per run.

    Returns how many points expired. Webhook points.expired per account (on commit).
    Safe to run concurrently: lots are re-read under the account lock.
    """
    now = now or timezone.now()
    due = PointsLot.objects.filter(status=PointsLot.Status.AVAILABLE, remaining__gt=0, expires_at__lte=now)
    if program is not None:
        due = due.filter(program=program)
    account_ids = list(due.values_list("account_id", flat=True).distinct().order_by("account_id")[:limit])
    total = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = (
                PointsAccount.objects.select_for_update(of=("self",))
                .select_related("customer__program")
                .get(pk=account_id)
            )
            lots = list(due.filter(account=account).select_for_update().order_by("id"))
            points = sum(lot.remaining for lot in lots)
            if not points:
                continue
            entry = _entry(
                account, account.customer_id, EntryKind.EXPIRE, -points,
                activity.expire(), f"expire:lot:{lots[0].pk}", source=("lot", lots[0].pk),
                expires_at=max(lot.expires_at for lot in lots if lot.expires_at is not None),  # due lots have one
            )  # fmt: skip
            entry.save()
            PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
            _move(account, -points)
            total += points
            customer = account.customer
            webhook(customer.program, "points.expired",
                    {"customer": customer.external_id, "points": points, "balance": account.balance,
                     "ledger_entry": entry.pk}, f"points.expired:{entry.pk}")  # fmt: skip
    return total


def release_pending_points(now: datetime | None = None, *, program: Program | None = None, limit: int = 2000) -> int:
    """Make pending lots whose return window has passed spendable (an `earn` entry each:
    +points to the balance, -points from pending). Returns how many lots were released."""
    now = now or timezone.now()
    due = PointsLot.objects.filter(status=PointsLot.Status.PENDING, available_at__lte=now)
    if program is not None:
        due = due.filter(program=program)
    account_ids = list(due.values_list("account_id", flat=True).distinct().order_by("account_id")[:limit])
    released = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = PointsAccount.objects.select_for_update().get(pk=account_id)
            lots = list(
                due.filter(account=account).select_for_update(of=("self",)).select_related("entry").order_by("id")
            )
            entries = []
            for lot in lots:
                entry = _entry(
                    account, account.customer_id, EntryKind.EARN, lot.points, activity.same_as(lot.entry),
                    f"release:lot:{lot.pk}", pending=-lot.points, source=("lot", lot.pk),
                    expires_at=lot.expires_at,
                )  # fmt: skip
                _track(account, lot.points, -lot.points)
                entries.append(entry)
            LedgerEntry.objects.bulk_create(entries)
            PointsLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(
                status=PointsLot.Status.AVAILABLE, available_at=now
            )
            _flush_tracked([account])
            released += len(lots)
    return released


# --- refunds of purchases: cancel pending, claw back ---------------------------------------


def claw_back(
    *,
    customer: Customer,
    source_type: str,
    source_id: str,
    fraction: Decimal,
    refund_key: str,
    reason: str = "Purchase refunded",
) -> Clawback:
    """Take back `fraction` (0..1) of the points earned from (source_type, source_id).

    Pending points are cancelled first (a `reverse` entry on pending); spendable points are
    debited as far as the balance allows (`reverse`); what could not be taken is recorded in
    a Clawback row. Idempotent by refund_key. Returns the Clawback.
    """
    with transaction.atomic():
        account = lock_accounts([customer])[customer.pk]
        done = Clawback.objects.filter(program_id=customer.program_id, refund_key=refund_key).first()
        if done is not None:
            return done
        earned = LedgerEntry.objects.filter(
            program_id=customer.program_id, customer=customer, source_type=source_type, source_id=source_id,
            kind=EntryKind.EARN,
        ).aggregate(points=Sum(F("points") + F("pending_points")))["points"] or 0  # fmt: skip
        already = (
            Clawback.objects.filter(
                program_id=customer.program_id, customer=customer, source_type=source_type, source_id=source_id
            ).aggregate(due=Sum("points_due"))["due"]
            or 0
        )
        due = max(0, min(earned - already, round(earned * fraction)))
        left = due
        pending_lots = PointsLot.objects.select_for_update(of=("self",)).filter(
            account=account, status=PointsLot.Status.PENDING, entry__source_type=source_type,
            entry__source_id=source_id,
        ).order_by("id")  # fmt: skip
        cancelled = 0
        for lot in pending_lots:
            if left <= 0:
                break
            take = min(lot.remaining, left)
            remaining = lot.remaining - take
            PointsLot.objects.filter(pk=lot.pk).update(
                remaining=remaining, status=PointsLot.Status.CANCELLED if remaining == 0 else lot.status
            )
            if remaining:
                # A partly cancelled pending lot: shrink it so lot.points stays >= remaining.
                PointsLot.objects.filter(pk=lot.pk).update(points=remaining)
            cancelled += take
            left -= take
        if cancelled:
            entry = _entry(account, customer.pk, EntryKind.REVERSE, 0, reason, f"{refund_key}:pending",
                           pending=-cancelled, source=(source_type, source_id))  # fmt: skip
            entry.save()
            _move(account, 0, -cancelled)
        taken = min(left, account.balance)
        if taken:
            _consume(account, taken)
            entry = _entry(account, customer.pk, EntryKind.REVERSE, -taken, reason, f"{refund_key}:balance",
                           source=(source_type, source_id))  # fmt: skip
            entry.save()
            _move(account, -taken)
        return Clawback.objects.create(
            program_id=customer.program_id, customer=customer, source_type=source_type, source_id=source_id,
            refund_key=refund_key, points_due=due, points_taken=cancelled + taken,
            points_unrecovered=due - cancelled - taken,
        )  # fmt: skip
