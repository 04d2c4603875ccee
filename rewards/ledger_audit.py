"""Ledger invariants, checked set-based (read-only). Used by `manage.py verify_ledger`
and by the tests after every step.

1. balance == sum(points) and pending == sum(pending_points) of the account's entries;
2. balance >= 0 and pending >= 0;
3. every entry's balance_after equals the running sum of the account's entries up to it;
4. available lots' remaining == balance, pending lots' remaining == pending, and
   0 <= remaining <= points on every lot;
5. every `redeem` entry belongs to a redemption of the same customer, and every redemption
   that debited points has exactly one redeem entry (and a refund entry iff it failed).
"""

from django.db.models import Count, F, Q, Sum

from rewards.models import EntryKind, LedgerEntry, PointsAccount, PointsLot, Redemption


def find_breaches(program=None):
    """Return a list of human-readable breaches (empty when the ledger is consistent)."""
    scope = {} if program is None else {"program": program}
    breaches = []
    entries = LedgerEntry.objects.filter(**scope)
    sums = {
        row["account_id"]: row
        for row in entries.values("account_id").annotate(points=Sum("points"), pending=Sum("pending_points"))
    }
    lots = {}
    for row in PointsLot.objects.filter(**scope).values("account_id", "status").annotate(r=Sum("remaining")):
        lots[(row["account_id"], row["status"])] = row["r"] or 0
    for account in PointsAccount.objects.filter(**scope).values("id", "balance", "pending"):
        got = sums.get(account["id"], {"points": 0, "pending": 0})
        if account["balance"] != (got["points"] or 0):
            breaches.append(f"account {account['id']}: balance {account['balance']} != entries {got['points']}")
        if account["pending"] != (got["pending"] or 0):
            breaches.append(f"account {account['id']}: pending {account['pending']} != entries {got['pending']}")
        if account["balance"] < 0 or account["pending"] < 0:
            breaches.append(f"account {account['id']}: negative balance or pending")
        available = lots.get((account["id"], PointsLot.Status.AVAILABLE), 0)
        if available != account["balance"]:
            breaches.append(f"account {account['id']}: available lots {available} != balance {account['balance']}")
        pending = lots.get((account["id"], PointsLot.Status.PENDING), 0)
        if pending != account["pending"]:
            breaches.append(f"account {account['id']}: pending lots {pending} != pending {account['pending']}")
    bad_lots = PointsLot.objects.filter(**scope).filter(Q(remaining__lt=0) | Q(remaining__gt=F("points"))).count()
    if bad_lots:
        breaches.append(f"{bad_lots} lots with remaining outside 0..points")
    breaches += _running_sums(entries)
    breaches += _redemption_links(entries, scope)
    return breaches


def _running_sums(entries):
    out, current, running = [], None, 0
    rows = entries.order_by("account_id", "id").values_list("account_id", "id", "points", "balance_after")
    for account_id, entry_id, points, balance_after in rows.iterator(chunk_size=5000):
        if account_id != current:
            current, running = account_id, 0
        running += points
        if running != balance_after:
            out.append(f"entry {entry_id}: balance_after {balance_after} != running sum {running}")
            running = balance_after  # report each break once, not every later entry
    return out


def _redemption_links(entries, scope):
    out = []
    orphans = entries.filter(kind=EntryKind.REDEEM).filter(
        Q(redemption__isnull=True) | ~Q(redemption__customer_id=F("customer_id"))
    )
    out += [
        f"redeem entry {pk}: not tied to a redemption of its customer" for pk in orphans.values_list("pk", flat=True)
    ]
    redemptions = (
        Redemption.objects.filter(**scope)
        .filter(points__gt=0)
        .annotate(
            debits=Count("ledger_entries", filter=Q(ledger_entries__kind=EntryKind.REDEEM)),
            refunds=Count("ledger_entries", filter=Q(ledger_entries__kind=EntryKind.REFUND)),
        )
        .values_list("pk", "status", "debits", "refunds")
    )
    for pk, status, debits, refunds in redemptions:
        if debits != 1:
            out.append(f"redemption {pk}: {debits} redeem entries (expected 1)")
        refunded = status in (Redemption.Status.FAILED, Redemption.Status.RETURNED)
        if (refunds == 1) != refunded or refunds > 1:
            out.append(f"redemption {pk}: status {status} with {refunds} refund entries")
    return out
