"""Why a payout is held, in words: one message template per hold kind (and per check, where
one kind has two), filled from `Payout.hold_params`.

The same template gives both texts: untranslated with the numbers as stored for
`Payout.hold_detail` (the partner API's and the audit's English), and in the staff user's
language with money in the locale's format for the admin. Rows held before hold_params
existed have {} and keep showing their stored hold_detail.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

from payouts.models import Hold, Payout

# The velocity hold has two checks behind it; params["check"] says which.
COUNT, SHARED_DESTINATION = "count", "shared_destination"

MESSAGES = {
    (Hold.APPROVAL, ""): _("Above the approval threshold of %(threshold)s %(currency)s."),
    (Hold.VELOCITY, COUNT): _("%(count)d payouts in the last %(minutes)d minutes (limit %(limit)d)."),
    (Hold.VELOCITY, SHARED_DESTINATION): _("Destination already used by another customer (%(customer)s)."),
    (Hold.DAILY_LIMIT, ""): _("%(total)s %(currency)s today for this customer (daily limit %(daily_limit)s)."),
    (Hold.FUNDS, ""): _("Needs %(amount)s %(currency)s; %(available)s available."),
}
# Params holding money, stored as the Decimal's string ("500.00") so nothing is lost to floats.
MONEY = {"threshold", "total", "daily_limit", "amount", "available"}


@dataclass(frozen=True)
class HoldReason:
    """A hold kind with the values that explain it (what risk.assess and services record)."""

    hold: str
    params: dict = field(default_factory=dict)

    @classmethod
    def of(cls, hold: str, check: str = "", **values: object) -> "HoldReason":
        """The reason with money values as strings and the check named when there is one."""
        params = {key: str(value) if isinstance(value, Decimal) else value for key, value in values.items()}
        return cls(hold, {"check": check, **params} if check else params)

    @property
    def detail(self) -> str:
        """The English text stored in Payout.hold_detail."""
        return _template(self.hold, self.params) % self.params


def describe(payout: Payout) -> str:
    """Why `payout` waits, in the active language; the stored hold_detail when its params are
    missing (an older row) or do not fit the template."""
    if not payout.hold_params:
        return payout.hold_detail
    try:
        template = _template(payout.hold, payout.hold_params)
        values = {key: _localized(key, value) for key, value in payout.hold_params.items()}
        return gettext(template) % values
    except (KeyError, TypeError, ValueError, InvalidOperation):
        # Params are data written by an older or newer version: show the stored text.
        return payout.hold_detail


def _template(hold, params):
    return MESSAGES[(hold, params.get("check", ""))]


def _localized(key, value):
    if key in MONEY:
        return formats.number_format(Decimal(value), 2)
    return value
