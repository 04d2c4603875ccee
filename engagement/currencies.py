"""ISO 4217: the currency codes money may be in.

The list is CLDR's (through Babel, already a dependency for translations): every currency
that is legal tender in some territory today. Codes that only look like one ("ZZZ"), funds
and test codes ("XXX", "XTS") and withdrawn currencies ("DEM") are not in it.
"""

from datetime import date
from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_territory_currencies
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


@lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    """The set of active ISO 4217 codes (computed once per process)."""
    today = date.today()
    codes = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(codes)


def is_iso_currency(code: object) -> bool:
    return isinstance(code, str) and code in iso_currencies()


def validate_currency(value: str) -> None:
    """Django/DRF validator: raises ValidationError (code "invalid_currency") unless `value`
    is an active ISO 4217 code."""
    if not is_iso_currency(value):
        raise ValidationError(
            _("%(code)s is not an ISO 4217 currency code."), code="invalid_currency", params={"code": value}
        )
