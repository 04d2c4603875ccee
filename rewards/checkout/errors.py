"""Domain errors of checkout, members of the one hierarchy (engagement.errors) that the API's
exception handler maps once to the error shape. Each is a `CheckoutError` (so a
`RewardsError`) and, by its kind, a `ValidationFailed`, `NotFound` or `Conflict`, from which
it takes its HTTP status and error type; it sets only its own code, field and message.
Raised inside a service's transaction, they roll it back: a refused operation changes nothing."""

from django.utils.translation import gettext_lazy as _

from engagement.errors import Conflict, NotFound, ValidationFailed
from rewards.errors import RewardsError


class CheckoutError(RewardsError):
    code = "checkout_error"


class CurrencyMismatch(ValidationFailed, CheckoutError):
    code = "currency_mismatch"
    attr = "currency"
    message = _("The cart's currency is not the program's.")


class CodesRefused(Conflict, CheckoutError):
    """One or more codes cannot be used: an entry per code, with the reason as its code."""

    code = "code_refused"
    attr = "codes"
    message = _("A code cannot be used.")

    def __init__(self, refused):
        self.refused = refused  # [(index, reason code, detail)]
        super().__init__()

    def entries(self):
        return [{"code": code, "detail": str(detail), "attr": f"codes.{i}"} for i, code, detail in self.refused]


class PointsOverLimit(Conflict, CheckoutError):
    code = "points_over_limit"
    attr = "points"
    message = _("More points than this order may be paid with.")


class ReservationNotFound(NotFound, CheckoutError):
    message = _("No such reservation.")


class CodeNotFound(NotFound, CheckoutError):
    attr = "code"
    message = _("No such code.")


class OrderAlreadyReserved(Conflict, CheckoutError):
    code = "order_already_reserved"
    attr = "order_id"
    message = _("This order already has a reservation with other points or codes.")


class ReservationExpired(Conflict, CheckoutError):
    code = "reservation_expired"
    message = _("The hold expired; its points and codes were released.")


class ReservationCancelled(Conflict, CheckoutError):
    code = "reservation_cancelled"
    message = _("The reservation was cancelled.")


class ReservationConfirmed(Conflict, CheckoutError):
    code = "reservation_confirmed"
    message = _("The order was already paid; refund it with a refund event instead.")
