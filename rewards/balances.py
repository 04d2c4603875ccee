"""Read-side queries of the points ledger (selectors): balance summaries and points
earned in a window. Nothing here writes."""

from datetime import timedelta

from django.db import connection
from django.db.models import F, Q, Sum
from django.utils import timezone

from engagement import plain_rows
from engagement.models import Customer
from rewards import portal_auth
from rewards.checkout.models import Reservation
from rewards.models import CustomerTier, EntryKind, LedgerEntry, PointsAccount, PointsLot, RewardsSettings


def get_balance_summary(customer, now=None, *, with_tier=False, recent=0):
    """Balance, pending, held and the soonest expiry (date and amount) within the program
    setting, in one query (the portal home and the balance endpoint read it per request).
    `with_tier` adds, in the same query, the customer's tier state ("tier_id", "review_at":
    None without a CustomerTier row) and "window_points", the points earned in the tier
    window before `now` (as earned_since), for rewards.tiers.get_tier_progress. `recent` > 0
    adds "recent", the first `recent` entries of rewards.activity.list_activity(customer),
    also in the same query (one row per entry, the figures repeated on each)."""
    rewards_settings = RewardsSettings.get_for(customer.program)
    rows = _summary_rows(rewards_settings, {"customer": customer.pk}, now, with_tier=with_tier, recent=recent)
    return _summary_with_recent(rows, with_tier=with_tier, recent=recent)


def find_signed_in_summary(customer_id, program_id, rewards_settings, now=None, *, recent=0):
    """The portal's signed-in customer (rewards.portal_auth.SIGNED_IN_SOURCE: not erased, still
    in program `program_id`) with their program, and their get_balance_summary(with_tier=True,
    recent=recent), in one statement; None when there is no such customer. `rewards_settings`
    are the program's, from the per-process cache: the caller sets them on the program."""
    params = {"customer": customer_id, "program": program_id}
    rows = _summary_rows(rewards_settings, params, now, with_tier=True, recent=recent, signed_in=True)
    if not rows:
        return None
    customer = portal_auth.customer_from_row(rows[0][9 + (len(_entry_columns()) if recent else 0) :])
    return customer, _summary_with_recent(rows, with_tier=True, recent=recent)


def _summary_with_recent(rows, *, with_tier, recent):
    summary = _summary(rows[0], with_tier=with_tier)
    if recent:
        end = 9 + len(_entry_columns())
        summary["recent"] = [plain_rows.from_row(LedgerEntry, row[9:end]) for row in rows if row[9] is not None]
    return summary


def _entry_columns():
    return plain_rows.columns(LedgerEntry, "entry")


def find_customer_balance(program, external_id, now=None):
    """The program's customer with that external id (engagement.customers.get_customer) and
    their get_balance_summary, in one statement (the balance endpoint's read: the customer's
    lookup is a CTE the summary's subqueries share); None when there is no such customer."""
    params = {"program": program.pk, "external_id": external_id}
    rows = _summary_rows(RewardsSettings.get_for(program), params, now)
    if not rows:
        return None
    customer = plain_rows.from_row(Customer, rows[0][9:])
    customer.program = program  # the caller's instance: its cached settings come along
    return customer, _summary(rows[0], with_tier=False)


def _summary_rows(rewards_settings, params, now, *, with_tier=False, recent=0, signed_in=False):
    """get_balance_summary's statement under the program's `rewards_settings`, for the
    customer params["customer"] (an id; one row, or `recent` rows) or for the one found by
    params["program"] and params["external_id"] (then its Customer columns follow the
    figures; no row without that customer). `signed_in`: params["customer"] as the portal's
    signed-in customer in params["program"], its portal_auth.signed_in_columns() after the
    figures and entries (no row without that customer)."""
    now = now or timezone.now()
    soon = rewards_settings.expiring_soon_days
    by_external_id = "customer" not in params
    # Every subquery names the customer by this expression: the id given, or the CTE's.
    me = "(SELECT id FROM me)" if by_external_id else "%(customer)s"
    tier_columns, tier_join = ", NULL, NULL, NULL", ""
    if with_tier:
        # earned_since's filter, written for the ledger_customer_timeline index.
        tier_columns = f"""
                   , state.tier_id, state.review_at,
                   (SELECT sum(points) FROM {LedgerEntry._meta.db_table}
                     WHERE customer_id = {me} AND created_at >= %(since)s
                       AND ((kind IN (%(earn)s, %(adjust)s) AND points > 0) OR kind = %(reverse)s))"""
        tier_join = f"LEFT JOIN {CustomerTier._meta.db_table} state ON state.customer_id = {me}"
    recent_columns, recent_join = "", ""
    if recent:
        # list_activity's order, on the ledger_customer_timeline index; no entry: one row of NULLs.
        recent_columns = ", " + ", ".join(_entry_columns())
        recent_join = f"""
              LEFT JOIN LATERAL (SELECT * FROM {LedgerEntry._meta.db_table}
                                  WHERE customer_id = {me}
                                  ORDER BY created_at DESC, id DESC LIMIT %(recent)s) entry ON true
             ORDER BY entry.created_at DESC, entry.id DESC"""
    me_cte, customer_columns, source = "", "", "(SELECT 1) AS one"
    if by_external_id:
        # The customer_external_id_unique index: at most one row.
        me_cte = f"""me AS (SELECT * FROM {Customer._meta.db_table}
                         WHERE program_id = %(program)s AND external_id = %(external_id)s), """
        customer_columns = ", " + ", ".join(plain_rows.columns(Customer, "me"))
        source = "me"
    elif signed_in:
        customer_columns = ", " + ", ".join(portal_auth.signed_in_columns())
        source = portal_auth.SIGNED_IN_SOURCE
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH {me_cte}soon AS (
                SELECT lot.expires_at, lot.remaining
                  FROM {PointsLot._meta.db_table} lot
                  JOIN {PointsAccount._meta.db_table} account ON account.id = lot.account_id
                 WHERE account.customer_id = {me} AND lot.status = %(available)s
                   AND lot.remaining > 0 AND lot.expires_at IS NOT NULL AND lot.expires_at <= %(until)s
            ), first AS (SELECT min(expires_at) AS at FROM soon)
            SELECT account.balance, account.pending,
                   (SELECT sum(points) FROM {Reservation._meta.db_table}
                     WHERE customer_id = {me} AND status = %(held)s),
                   (SELECT at FROM first),
                   (SELECT sum(remaining) FROM soon WHERE expires_at = (SELECT at FROM first)),
                   (SELECT sum(remaining) FROM soon){tier_columns}{recent_columns}{customer_columns}
              FROM {source}
              LEFT JOIN {PointsAccount._meta.db_table} account ON account.customer_id = {me}
              {tier_join}{recent_join}
            """,
            {
                **params,
                "available": PointsLot.Status.AVAILABLE,
                "held": Reservation.Status.HELD,
                "until": now + timedelta(days=soon),
                "since": now - timedelta(days=rewards_settings.tier_window_days),
                "earn": EntryKind.EARN,
                "adjust": EntryKind.ADJUST,
                "reverse": EntryKind.REVERSE,
                "recent": recent,
            },
        )
        return cursor.fetchall()


def _summary(row, *, with_tier):
    balance, pending, held, first_at, first_points, total, tier_id, review_at, earned = row[:9]
    summary = {
        "balance": balance or 0,
        "pending": pending or 0,
        "held": int(held or 0),
        "expiring_soon": {"at": first_at, "points": int(first_points)} if first_at is not None else None,
        "expiring_soon_total": int(total or 0),
    }
    if with_tier:
        summary.update(tier_id=tier_id, review_at=review_at, window_points=max(0, int(earned or 0)))
    return summary


def list_upcoming_lots(customer, now=None, limit=5):
    """Pending points by the time they become spendable, and spendable points by the time they
    expire, soonest first (at most `limit` times each): {"pending": [...], "expiring": [...]},
    each item {"at", "points"}."""
    now = now or timezone.now()
    lots = PointsLot.objects.filter(account__customer=customer, remaining__gt=0)
    pending = (
        lots.filter(status=PointsLot.Status.PENDING)
        .values(at=F("available_at"))
        .annotate(points=Sum("remaining"))
        .order_by(F("at").asc(nulls_last=True))
    )
    expiring = (
        lots.filter(status=PointsLot.Status.AVAILABLE, expires_at__gt=now)
        .values(at=F("expires_at"))
        .annotate(points=Sum("remaining"))
        .order_by("at")
    )
    return {"pending": list(pending[:limit]), "expiring": list(expiring[:limit])}


def earned_since(customers_q, since, extra=None):
    """Points earned (earn + positive adjust, not reversed) per customer id since `since`;
    `extra` ({customer id: points}) adds grants not written yet (rewards.grant_batch)."""
    rows = (
        LedgerEntry.objects.filter(customers_q, created_at__gte=since)
        .filter(
            Q(kind=EntryKind.EARN, points__gt=0) | Q(kind=EntryKind.ADJUST, points__gt=0) | Q(kind=EntryKind.REVERSE)
        )
        .values("customer_id")
        .annotate(total=Sum("points"))
    )
    totals = dict(extra or {})
    for row in rows:
        totals[row["customer_id"]] = totals.get(row["customer_id"], 0) + (row["total"] or 0)
    return {customer_id: max(0, total) for customer_id, total in totals.items()}
