"""Payout requests for tests go through the real service (the state machine's trigger
refuses any other starting state)."""

import itertools
from decimal import Decimal

from payouts import services

_keys = itertools.count(1)

DESTINATIONS = {
    "gift_card": {"email": "alice@example.com", "product": "AMAZON"},
    "bank_transfer": {"account_name": "Alice Tan", "iban": "GB82WEST12345698765432"},
    "upi": {"vpa": "alice.tan@okaxis"},
    "paypal": {"email": "alice@example.com"},
    "voucher": {"email": "alice@example.com"},
}


def make_payout(customer, amount="25.00", method="gift_card", **kwargs):
    kwargs.setdefault("destination", DESTINATIONS[method])
    kwargs.setdefault("source", "api")
    kwargs.setdefault("source_ref", "")
    kwargs.setdefault("idempotency_key", f"test-{next(_keys)}")
    kwargs.setdefault("currency", customer.program.currency)
    return services.request_payout(
        program=customer.program, customer=customer, amount=Decimal(amount), method=method, **kwargs
    )
