"""Domain errors of checkout (members of the one hierarchy, mapped once to the API's shape).
Raised inside a service's transaction, they roll it back: a refused operation changes nothing."""

from django.utils.translation import gettext_lazy as _

from rewards.errors import RewardsError


class CurrencyMismatch(RewardsError):
    code = "currency_mismatch"
    attr = "currency"
    message = _("The cart's currency is not the program's.")
    error_type = "validation_error"


class CodesRefused(RewardsError):
    """One or more codes cannot be used: an entry per code, with the reason as its code."""

    code = "code_refused"
    attr = "codes"
    message = _("A code cannot be used.")
    status = 409

    def __init__(self, refused):
        self.refused = refused  # [(index, reason code, detail)]
        super().__init__()

    def entries(self):
        return [{"code": code, "detail": str(detail), "attr": f"codes.{i}"} for i, code, detail in self.refused]


class PointsOverLimit(RewardsError):
    code = "points_over_limit"
    attr = "points"
    message = _("More points than this order may be paid with.")
    status = 409


class ReservationNotFound(RewardsError):
    code = "not_found"
    attr = None
    message = _("No such reservation.")
    status = 404


class CodeNotFound(RewardsError):
    code = "not_found"
    attr = "code"
    message = _("No such code.")
    status = 404


class OrderAlreadyReserved(RewardsError):
    code = "order_already_reserved"
    attr = "order_id"
    message = _("This order already has a reservation with other points or codes.")
    status = 409


class ReservationExpired(RewardsError):
    code = "reservation_expired"
    attr = None
    message = _("The hold expired; its points and codes were released.")
    status = 409


class ReservationCancelled(RewardsError):
    code = "reservation_cancelled"
    attr = None
    message = _("The reservation was cancelled.")
    status = 409


class ReservationConfirmed(RewardsError):
    code = "reservation_confirmed"
    attr = None
    message = _("The order was already paid; refund it with a refund event instead.")
    status = 409
