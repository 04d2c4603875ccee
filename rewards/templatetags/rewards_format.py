"""Locale-aware number and money formatting for portal templates (Babel, CLDR data)."""

from babel.numbers import format_currency, format_decimal
from django import template
from django.utils.translation import get_language

register = template.Library()


def _locale():
    return (get_language() or "en").replace("-", "_")


@register.filter
def points(value):
    """12345 -> "12,345" in the active language's format."""
    try:
        return format_decimal(int(value or 0), locale=_locale())
    except (TypeError, ValueError):
        return value


@register.simple_tag
def money(amount, currency):
    """Decimal amount and ISO currency -> "RM15.00" (ms), "MYR15.00" (en), "15.00 MYR" (ar)."""
    return format_currency(amount or 0, currency, locale=_locale())
