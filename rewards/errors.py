"""Domain errors of rewards services. Each has a stable `code`; edges (API, portal, admin)
turn them into their own error shape. Raising one inside a service's transaction rolls it
back, so a refused operation changes nothing.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class RewardsError(Exception):
    code = "rewards_error"
    message: str | Promise = _("The request could not be completed.")
    status = 400

    def __init__(self, message=None):
        self.message = message or self.message
        super().__init__(str(self.message))


class InsufficientPoints(RewardsError):
    code = "insufficient_points"
    message = _("Not enough points.")
    status = 409


class OutOfStock(RewardsError):
    code = "out_of_stock"
    message = _("This reward is out of stock.")
    status = 409


class NotEligible(RewardsError):
    code = "not_eligible"
    message = _("This reward is not available for your tier or segment.")
    status = 403


class ItemUnavailable(RewardsError):
    code = "unavailable"
    message = _("This reward is not available now.")
    status = 409


class InvalidPoints(RewardsError):
    code = "invalid_points"
    message = _("Points must be a non-zero whole number.")


class VoucherUnknown(RewardsError):
    code = "voucher_not_found"
    message = _("No such voucher code has been issued.")
    status = 404


class VoucherUsed(RewardsError):
    code = "voucher_used"
    message = _("This voucher code was already used.")
    status = 409
