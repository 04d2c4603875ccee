"""engagement.formatting.babel_locale: the CLDR locale per (language, time zone), cached."""

from babel import Locale
from django.utils import translation

from engagement.formatting import babel_locale, format_money


def test_language_in_the_programs_territory_with_fallbacks():
    assert babel_locale("en", "Asia/Kuala_Lumpur") == Locale("en", "MY")
    assert babel_locale("ms-my", "Asia/Kuala_Lumpur") == Locale("ms", "MY")
    assert babel_locale("ar", "Asia/Kuala_Lumpur") == Locale("ar")  # CLDR has no ar_MY
    assert babel_locale("en", "UTC") == Locale("en", "MY")  # no territory: Malaysia
    assert babel_locale("zz", "Asia/Kuala_Lumpur") == Locale("en")  # unknown language


def test_the_locale_is_computed_once_per_pair_and_the_active_language_still_counts():
    assert babel_locale("ar", "Asia/Kuala_Lumpur") is babel_locale("ar", "Asia/Kuala_Lumpur")
    with translation.override("ar"):
        assert babel_locale(tz_name="Europe/London") == Locale("ar")
        assert format_money(8, "MYR", tz_name="Asia/Kuala_Lumpur") == format_money(8, "MYR", language="ar")
    with translation.override("en"):
        assert babel_locale(tz_name="Europe/London") == Locale("en", "GB")
        assert format_money(8, "MYR", tz_name="Asia/Kuala_Lumpur") == "RM8.00"
