"""Locale formats for portal templates and emails: thin filters over engagement.formatting
(the one module that formats numbers, money and dates for customers)."""

from django import template
from django.utils.html import format_html

from engagement import formatting

register = template.Library()


@register.filter
def points(value):
    """12345 -> "12,345" in the active language's format."""
    try:
        return formatting.format_points(value)
    except (TypeError, ValueError):
        return value


@register.simple_tag
def money(amount, currency):
    """Decimal amount and ISO currency -> "RM15.00" (en, ms in Malaysia), "‏15.00 MYR" (ar)."""
    return formatting.format_money(amount, currency)


@register.filter
def ldate(value):
    """A date or datetime -> "3 Dec 2026" in the active language and time zone."""
    return formatting.format_date(value)


@register.filter
def ldatetime(value):
    """A datetime -> "3 Dec 2026, 2:05 pm" in the active language and time zone."""
    return formatting.format_datetime(value)


@register.filter
def bdi(value):
    """Isolate a name's direction (<bdi>): "مرحبًا، Ahmad B." keeps its full stop in place."""
    return format_html("<bdi>{}</bdi>", value)
