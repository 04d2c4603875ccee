"""Program funding: the only code that writes FundingAccount balances and FundingEntry rows.

Lock order (to avoid deadlocks): the payout row first (callers hold it), then the funding
account row (`select_for_update` here). Top-ups lock only the account; payouts held for
funds are queued afterwards by a task, in their own transactions.
"""

from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from payouts.models import FundingAccount, FundingEntry


class FundingError(Exception):
    pass


def get_account(program, currency):
    account, _ = FundingAccount.objects.get_or_create(program=program, currency=currency)
    return account


def _locked_account(program_id, currency):
    FundingAccount.objects.get_or_create(program_id=program_id, currency=currency)
    return FundingAccount.objects.select_for_update().get(program_id=program_id, currency=currency)


def top_up(program, currency, amount, *, actor=None, note="", kind=FundingEntry.Kind.TOP_UP):
    """Credit (or, for an adjustment, debit) the program's funds; returns the entry.

    Locks the account row; a debit below zero raises FundingError and changes nothing.
    Re-arms the low-funds alert once the balance is back above its threshold.
    """
    amount = Decimal(amount)
    if kind == FundingEntry.Kind.TOP_UP and amount <= 0:
        raise FundingError("A top-up must be positive.")
    with transaction.atomic():
        account = _locked_account(program.pk, currency)
        if account.balance + amount < 0:
            raise FundingError(f"Not enough funds: {account.balance} {currency} available.")
        account.balance += amount
        if not account.is_low:
            account.low_balance_alerted_at = None
        account.save(update_fields=["balance", "low_balance_alerted_at", "updated_at"])
        return FundingEntry.objects.create(
            account=account, kind=kind, amount=amount, balance_after=account.balance, actor=actor, note=note[:200]
        )


def reserve(payout):
    """Debit the payout's amount from its program's funds; False (nothing changed) when the
    available balance is too small. The caller holds the payout row lock."""
    with transaction.atomic():
        account = _locked_account(payout.program_id, payout.currency)
        if FundingEntry.objects.filter(payout=payout, kind=FundingEntry.Kind.RESERVE).exists():
            return True
        if account.balance < payout.amount:
            return False
        account.balance -= payout.amount
        alert = account.is_low and account.low_balance_alerted_at is None
        if alert:
            account.low_balance_alerted_at = timezone.now()
        account.save(update_fields=["balance", "low_balance_alerted_at", "updated_at"])
        FundingEntry.objects.create(
            account=account,
            kind=FundingEntry.Kind.RESERVE,
            amount=-payout.amount,
            balance_after=account.balance,
            payout=payout,
            note=payout.reference,
        )
    if alert:
        transaction.on_commit(lambda: send_low_funds_alert(account.pk))
    return True


def release(payout):
    """Credit back a payout's reservation, once (no reservation or already released: no-op)."""
    entries = set(FundingEntry.objects.filter(payout=payout).values_list("kind", flat=True))
    if FundingEntry.Kind.RESERVE not in entries or FundingEntry.Kind.RELEASE in entries:
        return None
    account = _locked_account(payout.program_id, payout.currency)
    account.balance += payout.amount
    if not account.is_low:
        account.low_balance_alerted_at = None
    account.save(update_fields=["balance", "low_balance_alerted_at", "updated_at"])
    return FundingEntry.objects.create(
        account=account,
        kind=FundingEntry.Kind.RELEASE,
        amount=payout.amount,
        balance_after=account.balance,
        payout=payout,
        note=payout.reference,
    )


def low_funds_recipients(program):
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True, is_staff=True, program_memberships__program=program)
    return sorted({user.email for user in users if user.email}) or [email for _, email in settings.ADMINS]


def send_low_funds_alert(account_id):
    account = FundingAccount.objects.select_related("program").get(pk=account_id)
    recipients = low_funds_recipients(account.program)
    if recipients:
        send_mail(
            f"[Ganjaran] Low payout funds: {account.program.name}",
            f"The {account.currency} payout funds of {account.program.name} are down to {account.balance} "
            f"(alert threshold {account.low_balance_threshold}). Record a top-up in the admin.",
            None,
            recipients,
        )
