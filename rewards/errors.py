"""Domain errors of rewards services, members of the one hierarchy (engagement.errors):
each has a stable `code`, a `message` and the HTTP `status` the API answers with; the API's
exception handler maps them, the portal and admin show `message`. Raising one inside a
service's transaction rolls it back, so a refused operation changes nothing.
"""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from engagement.errors import DomainError


class RewardsError(DomainError):
    code = "rewards_error"
    message: str | Promise = _("The request could not be completed.")
    status = 400


class InsufficientPoints(RewardsError):
    code = "insufficient_points"
    attr = "points"
    message = _("Not enough points.")
    status = 409


class OutOfStock(RewardsError):
    code = "out_of_stock"
    attr = "reward"
    message = _("This reward is out of stock.")
    status = 409


class NotEligible(RewardsError):
    code = "not_eligible"
    attr = "reward"
    message = _("This reward is not available for your tier or segment.")
    status = 403


class ItemUnavailable(RewardsError):
    code = "unavailable"
    attr = "reward"
    message = _("This reward is not available now.")
    status = 409


class InvalidPoints(RewardsError):
    code = "invalid_points"
    attr = "points"
    message = _("Points must be a non-zero whole number.")


class VoucherUnknown(RewardsError):
    code = "voucher_not_found"
    attr = "code"
    message = _("No such voucher code has been issued.")
    status = 404


class VoucherUsed(RewardsError):
    code = "voucher_used"
    attr = "code"
    message = _("This voucher code was already used.")
    status = 409
