"""One error map: every member of the domain error hierarchy becomes the one error shape, with
its own status, in the API's exception handler (views translate nothing)."""

import pytest
from django.http import Http404

from engagement import errors
from engagement.partner_api.errors import ApiError, Conflict, exception_handler
from payouts.services import PayoutError
from rewards.campaigns.lifecycle import CampaignInvalid
from rewards.errors import InsufficientPoints, NotEligible, VoucherUnknown


class LegacyConflict(ApiError):
    """An ApiError subclass written DRF-style, as code in other branches may have it."""

    status_code = 409


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            errors.NotFound("No such survey."),
            404,
            {"type": "client_error", "errors": [{"code": "not_found", "detail": "No such survey.", "attr": None}]},
        ),
        (
            InsufficientPoints(),
            409,
            {
                "type": "client_error",
                "errors": [{"code": "insufficient_points", "detail": "Not enough points.", "attr": "points"}],
            },
        ),
        (
            NotEligible(),
            403,
            {
                "type": "client_error",
                "errors": [
                    {
                        "code": "not_eligible",
                        "detail": "This reward is not available for your tier or segment.",
                        "attr": "reward",
                    }
                ],
            },
        ),
        (
            VoucherUnknown(),
            404,
            {
                "type": "client_error",
                "errors": [
                    {"code": "voucher_not_found", "detail": "No such voucher code has been issued.", "attr": "code"}
                ],
            },
        ),
        (
            PayoutError("This payout is not waiting for an approval.", code="not_pending"),
            400,
            {
                "type": "client_error",
                "errors": [
                    {"code": "not_pending", "detail": "This payout is not waiting for an approval.", "attr": None}
                ],
            },
        ),
        (
            CampaignInvalid([("trigger.kind", "unknown trigger."), ("", "at least one action is required.")]),
            400,
            {
                "type": "validation_error",
                "errors": [
                    {"code": "invalid", "detail": "unknown trigger.", "attr": "trigger.kind"},
                    {"code": "invalid", "detail": "at least one action is required.", "attr": None},
                ],
            },
        ),
        (
            errors.IdempotencyKeyReused(attr="idempotency_key"),
            422,
            {
                "type": "client_error",
                "errors": [
                    {
                        "code": "idempotency_key_reused",
                        "detail": "This idempotency key was already used with a different request.",
                        "attr": "idempotency_key",
                    }
                ],
            },
        ),
        (
            ApiError("points must not be 0.", attr="points"),
            400,
            {
                "type": "client_error",
                "errors": [{"code": "invalid", "detail": "points must not be 0.", "attr": "points"}],
            },
        ),
        (
            Conflict("Still running.", code="idempotency_key_in_use"),
            409,
            {
                "type": "client_error",
                "errors": [{"code": "idempotency_key_in_use", "detail": "Still running.", "attr": None}],
            },
        ),
        (
            LegacyConflict("Busy.", code="busy"),
            409,
            {"type": "client_error", "errors": [{"code": "busy", "detail": "Busy.", "attr": None}]},
        ),
        (
            Http404("No such redemption."),
            404,
            {"type": "client_error", "errors": [{"code": "not_found", "detail": "No such redemption.", "attr": None}]},
        ),
    ],
)
def test_each_domain_error_maps_to_its_status_and_the_one_shape(exc, status, body):
    response = exception_handler(exc, {})

    assert (response.status_code, response.data) == (status, body)


def test_every_app_error_is_a_domain_error_and_not_found_is_an_http404():
    assert all(
        issubclass(cls, errors.DomainError)
        for cls in (ApiError, Conflict, PayoutError, CampaignInvalid, InsufficientPoints, errors.NotFound)
    )
    assert issubclass(errors.NotFound, Http404)


def test_an_unexpected_exception_is_left_to_become_a_500():
    assert exception_handler(ValueError("bug"), {}) is None
