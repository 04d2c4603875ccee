"""Staff pages' formats in a program's time zone and territory: thin filters over
engagement.formatting (money with its currency and separators, grouped points, dates).

    {% load program_format %}
    {{ entry.created_at|program_datetime:program }}  ->  "3 Dec 2026, 2:05 pm" (Kuala Lumpur time)
    {% program_money payout.amount payout.currency program %}  ->  "RM1,234.50"
"""

from django import template

from engagement import formatting

register = template.Library()


@register.filter
def program_datetime(value, program):
    """An aware datetime in the program's time zone; "–" for None."""
    return formatting.format_datetime(value, tz_name=program.timezone) if value else "–"


@register.filter
def program_date(value, program):
    """A date (or a datetime, in the program's time zone); "–" for None."""
    return formatting.format_date(value, tz_name=program.timezone) if value else "–"


@register.filter
def program_points(value, program):
    """Whole points grouped as the program's territory writes them: 12345 -> "12,345"."""
    return formatting.format_points(value, tz_name=program.timezone)


@register.simple_tag
def program_money(amount, currency, program):
    """Amount and ISO currency -> "RM1,234.50" (the currency's sign and separators)."""
    if amount is None:
        return "–"
    return formatting.format_money(amount, currency or program.currency, tz_name=program.timezone)
