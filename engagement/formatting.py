"""Locale formats for customers: numbers, points, money, dates and times (Babel, CLDR data).

The one place every customer-facing page and message formats these, so a date or an amount
reads the same on the portal, the survey pages and in emails. The CLDR locale is the
language plus the program's territory (from its time zone: Asia/Kuala_Lumpur -> MY), so
English in a Malaysian program writes "3 Dec 2026" and "RM8.00", not US dates and "MYR8.00";
a pair CLDR does not know (ar_MY) falls back to the language alone. Digits stay Latin in
every language (Babel's default numbering system), as the programs' receipts print them.
"""

import datetime
import functools
import zoneinfo
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date as _babel_date
from babel.dates import format_time as _babel_time
from babel.numbers import format_currency, format_decimal
from django.utils import timezone
from django.utils.translation import get_language

DEFAULT_TIMEZONE = "Asia/Kuala_Lumpur"


def babel_locale(language: str | None = None, tz_name: str | None = None) -> Locale:
    """The CLDR locale for `language` (default: the active one) in the territory of `tz_name`
    (default: the active time zone; Malaysia when it has no territory, e.g. UTC)."""
    language = (language or get_language() or "en").split("-")[0].split("_")[0]
    return _locale(language, _zone_name(tz_name))


@functools.lru_cache(maxsize=256)
def _locale(language: str, zone: str) -> Locale:
    # Cached: a pair CLDR does not know (ar_MY) raised and caught UnknownLocaleError on every
    # call, ~75 µs each, several per catalogue item on an Arabic page. Locales are read-only.
    territories = get_global("zone_territories")
    territory = territories.get(zone) or territories.get(DEFAULT_TIMEZONE)
    if territory and territory.isalpha():
        try:
            return Locale(language, territory)
        except UnknownLocaleError:
            pass
    try:
        return Locale(language)
    except UnknownLocaleError:
        return Locale("en")


def format_number(value, *, language=None, tz_name=None) -> str:
    """12345 -> "12,345"; None -> "0"."""
    return format_decimal(value or 0, locale=babel_locale(language, tz_name))


def format_points(value, *, language=None, tz_name=None) -> str:
    """Whole points, grouped by locale: 12345 -> "12,345"."""
    return format_number(int(value or 0), language=language, tz_name=tz_name)


def format_money(amount, currency: str, *, language=None, tz_name=None) -> str:
    """Decimal amount and ISO currency -> "RM15.00" (en and ms in Malaysia), "‏15.00 MYR" (ar)."""
    return format_currency(Decimal(amount or 0), currency, locale=babel_locale(language, tz_name))


def _zone_name(tz_name):
    # Default: the time zone the portal activated for the signed-in customer.
    return tz_name or timezone.get_current_timezone_name()


def _local(value, tz_name):
    if isinstance(value, datetime.datetime):
        zone = zoneinfo.ZoneInfo(_zone_name(tz_name))
        return timezone.localtime(value, zone) if timezone.is_aware(value) else value
    return value


def format_date(value, *, language=None, tz_name=None) -> str:
    """A date (or an aware datetime, in `tz_name`) -> "3 Dec 2026" / "3 Dis 2026" / "3 ديسمبر 2026"."""
    if value is None:
        return ""
    locale = babel_locale(language, tz_name)
    value = _local(value, tz_name)
    # Arabic's medium date is all digits (03/12/2026); its long form names the month.
    width = "long" if locale.language == "ar" else "medium"
    return _babel_date(value, width, locale=locale)


def format_datetime(value, *, language=None, tz_name=None) -> str:
    """An aware datetime in `tz_name` -> "3 Dec 2026, 2:05 pm" (date as format_date, short time)."""
    if value is None:
        return ""
    local = _local(value, tz_name)
    locale = babel_locale(language, tz_name)
    time = _babel_time(local, "short", locale=locale)
    comma = "، " if locale.language == "ar" else ", "  # Arabic writes its own comma
    return format_date(local, language=language, tz_name=tz_name) + comma + time


def format_fixed(value, places: int = 2, *, language=None, tz_name=None) -> str:
    """A number grouped by locale with exactly `places` decimals: 16006.3 -> "16,006.30"."""
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(Decimal(str(value or 0)), format=pattern, locale=babel_locale(language, tz_name))
