from decimal import Decimal

import pytest

from payouts import services
from payouts.models import Payout, Status
from payouts.services import PayoutError
from tests.payouts.factories import make_payout


def test_request_is_idempotent_by_key(funded_acme, alice):
    first = make_payout(alice, idempotency_key="redemption-1")
    again = make_payout(alice, idempotency_key="redemption-1")

    assert again.pk == first.pk
    assert Payout.objects.count() == 1


def test_same_key_for_a_different_payout_is_refused(funded_acme, alice):
    make_payout(alice, idempotency_key="k")
    with pytest.raises(PayoutError) as error:
        make_payout(alice, amount="99.00", idempotency_key="k")
    assert (error.value.code, error.value.status_code) == ("idempotency_key_reused", 422)


@pytest.mark.parametrize(
    ("method", "destination", "masked"),
    [
        (
            "bank_transfer",
            {"account_name": "Alice Tan", "iban": "GB82 WEST 1234 5698 7654 32"},
            {"account_name": "Alice Tan", "iban": "GB82**************5432", "bank_code": ""},
        ),
        (
            "bank_transfer",
            {"account_name": "Alice Tan", "account_number": "1234-5678-90", "bank_code": "MBBEMYKL"},
            {"account_name": "Alice Tan", "account_number": "******7890", "bank_code": "MBBEMYKL"},
        ),
        ("upi", {"vpa": "alice.tan@okaxis"}, {"vpa": "al***@okaxis", "name": ""}),
        ("paypal", {"email": "Alice@Example.com"}, {"email": "a***@example.com"}),
        (
            "gift_card",
            {"email": "alice@example.com", "product": "AMZ-MY"},
            {"email": "a***@example.com", "name": "", "product": "AMZ-MY"},
        ),
    ],
)
def test_destinations_are_validated_and_stored_masked(funded_acme, alice, method, destination, masked):
    payout = make_payout(alice, method=method, destination=destination)

    payout.refresh_from_db()
    assert payout.destination == masked
    assert payout.destination_secret != masked  # full values kept only until the order is placed


@pytest.mark.parametrize(
    ("method", "destination", "attr"),
    [
        ("bank_transfer", {"account_name": "A", "iban": "GB82WEST12345698765431"}, "destination.iban"),
        (
            "bank_transfer",
            {"account_name": "A", "account_number": "12", "bank_code": "MBBEMYKL"},
            "destination.account_number",
        ),
        ("bank_transfer", {"iban": "GB82WEST12345698765432"}, "destination.account_name"),
        ("upi", {"vpa": "no-at-sign"}, "destination.vpa"),
        ("paypal", {"email": "not-an-email"}, "destination.email"),
        ("gift_card", {}, "destination.email"),
    ],
)
def test_bad_destinations_are_refused_and_nothing_is_stored(funded_acme, alice, method, destination, attr):
    with pytest.raises(PayoutError) as error:
        make_payout(alice, method=method, destination=destination)
    assert error.value.attr == attr
    assert Payout.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "attr"),
    [
        ("amount", "0", "amount"),
        ("amount", "1.001", "amount"),
        ("currency", "myr", "currency"),
        ("source", "x", "source"),
    ],
)
def test_bad_fields_are_refused(funded_acme, alice, field, value, attr):
    kwargs = {"amount": "10.00", field: value}
    with pytest.raises(PayoutError) as error:
        make_payout(alice, **kwargs)
    assert error.value.attr == attr
    assert Payout.objects.count() == 0


def test_customer_of_another_program_is_refused(funded_acme, globex):
    from tests.factories import CustomerFactory

    stranger = CustomerFactory(program=globex)
    with pytest.raises(PayoutError):
        services.request_payout(
            program=funded_acme,
            customer=stranger,
            amount=Decimal("1.00"),
            currency="MYR",
            method="voucher",
            destination={},
            source="api",
            source_ref="",
            idempotency_key="x",
        )
    assert Payout.objects.count() == 0


def test_cancel_only_before_the_provider_has_it(funded_acme, alice):
    payout = make_payout(alice)
    services.cancel_payout(payout.pk, reason="typo")
    payout.refresh_from_db()
    assert payout.status == Status.CANCELLED
    with pytest.raises(PayoutError):
        services.cancel_payout(payout.pk, reason="again")
