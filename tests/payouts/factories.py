"""Payout requests for tests go through the real service (the state machine's trigger
refuses any other starting state); approvers are staff users limited to one program."""

import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q

from engagement.models import ProgramStaff
from payouts import services

_keys = itertools.count(1)


def destination_for(customer, method):
    """A valid destination of this customer's own (so no two customers share one)."""
    email = customer.email or f"{customer.external_id}@example.com"
    return {
        "gift_card": {"email": email, "product": "GRABMY00001"},
        "bank_transfer": {"account_name": customer.name or "Customer", "iban": "GB82WEST12345698765432"},
        "upi": {"vpa": f"{customer.external_id}@okaxis"},
        "paypal": {"email": email},
        "voucher": {"email": email},
    }[method]


def make_payout(customer, amount="25.00", method="gift_card", **kwargs):
    kwargs.setdefault("destination", destination_for(customer, method))
    kwargs.setdefault("source", "api")
    kwargs.setdefault("source_ref", "")
    kwargs.setdefault("idempotency_key", f"test-{next(_keys)}")
    kwargs.setdefault("currency", customer.program.currency)
    return services.request_payout(
        program=customer.program, customer=customer, amount=Decimal(amount), method=method, **kwargs
    )


def make_approver(program, name, *, approve=True, password="pw-Approve-123"):
    """A staff user limited to `program` who may view payouts and, with `approve`, approve
    and reject them (the payouts.approve_payout permission)."""
    user = get_user_model().objects.create_user(name, f"{name}@{program.slug}.test", password, is_staff=True)
    wanted = Q(codename__startswith="view_") | (Q(codename="approve_payout") if approve else Q(pk__in=[]))
    user.user_permissions.set(Permission.objects.filter(wanted, content_type__app_label="payouts"))
    ProgramStaff.objects.create(program=program, user=user)
    return user
