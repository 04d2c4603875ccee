"""The dashboard's period: which [start, end) every card, chart and comparison on the page uses.

A period is whole days in the program's time zone: either the last N days (a preset, today
included) or a range of dates chosen by the staff user (both days included). The previous
period is the one of the same length that ends where this one starts. Bad input (an unknown
preset, a date that does not exist, a start after the end, a range longer than
MAX_RANGE_DAYS or reaching past today) is reported as a message and the default period is
shown instead: nothing on the page silently means something else than what was asked.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

PRESETS = [7, 30, 90, 180, 365]
DEFAULT_DAYS = 30
# A year and a day: a leap year's 1 Jan to 1 Jan. Longer ranges make every chart point scan
# years of events, and the previous period doubles that.
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Period:
    """`first` and `last` are the local dates included; `start`/`end` the UTC-aware instants
    of [start, end) that the metrics use (start of `first`, end of `last`)."""

    first: date
    last: date
    tz_name: str
    preset: int | None  # the N of "last N days", None for a chosen range

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=zoneinfo.ZoneInfo(self.tz_name))

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=zoneinfo.ZoneInfo(self.tz_name))

    def previous(self) -> "Period":
        """The period of the same length that ends the day before this one starts."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1), self.tz_name, None)


def preset_label(days):
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


def last_days(program, days, now=None) -> Period:
    """The last `days` days in the program's time zone, today included."""
    today = timezone.localtime(now or timezone.now(), zoneinfo.ZoneInfo(program.timezone)).date()
    return Period(today - timedelta(days=days - 1), today, program.timezone, days)


def _date(text, label):
    """(date, None) or (None, message) for one date field of the form."""
    try:
        day = parse_date(text)
    except ValueError:  # well formed but not a day of the calendar (2026-02-30)
        day = None
    if day is None:
        return None, _("%(field)s “%(value)s” is not a date (use YYYY-MM-DD).") % {"field": label, "value": text}
    return day, None


def parse_period(program, params, now=None) -> tuple[Period, list[str]]:
    """(period, messages) from the query string: ?start=&end= (a range of dates) or ?days=
    (a preset). With messages, the period is the default one and the messages say why."""
    default = last_days(program, DEFAULT_DAYS, now)
    start_text, end_text = (params.get("start") or "").strip(), (params.get("end") or "").strip()
    if start_text or end_text:
        return _parse_range(program, start_text, end_text, default, now)
    days_text = (params.get("days") or "").strip()
    if not days_text:
        return default, []
    if not days_text.isdigit() or int(days_text) not in PRESETS:
        choices = ", ".join(str(d) for d in PRESETS)
        return default, [
            _("“%(value)s” is not one of the periods (%(choices)s days).") % {"value": days_text, "choices": choices}
        ]
    return last_days(program, int(days_text), now), []


def _parse_range(program, start_text, end_text, default, now):
    if not (start_text and end_text):
        return default, [_("A range needs both a start and an end date.")]
    first, error_first = _date(start_text, _("Start"))
    last, error_last = _date(end_text, _("End"))
    errors = [e for e in (error_first, error_last) if e]
    if errors:
        return default, errors
    today = default.last
    if first > last:
        return default, [_("The start (%(start)s) is after the end (%(end)s).") % {"start": first, "end": last}]
    if last > today:
        return default, [_("The range ends after today (%(today)s).") % {"today": today}]
    length = (last - first).days + 1
    if length > MAX_RANGE_DAYS:
        message = _("The range is %(days)d days long; at most %(max)d days can be shown.")
        return default, [message % {"days": length, "max": MAX_RANGE_DAYS}]
    return Period(first, last, program.timezone, None), []
