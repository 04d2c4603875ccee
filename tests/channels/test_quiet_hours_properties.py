"""Property tests of the quiet-hours window arithmetic (pure: no database)."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from engagement.channels.policy import quiet_hours_end
from engagement.models import Customer, Program

times = st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 59]))
instants = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=dt.UTC)
)
zones = st.sampled_from(["Asia/Kuala_Lumpur", "Asia/Dubai", "Asia/Kolkata", "UTC"])


def _inside(start, end, local_time):
    if start < end:
        return start <= local_time < end
    return local_time >= start or local_time < end


@given(start=times, end=times, at=instants, zone=zones)
def test_held_until_the_next_end_of_the_window(start, end, at, zone):
    program = Program(quiet_hours_start=start, quiet_hours_end=end, timezone="UTC")
    customer = Customer(program=program, timezone=zone)
    local = at.astimezone(customer.get_timezone())
    result = quiet_hours_end(program, customer, at)
    if start == end or not _inside(start, end, local.time().replace(tzinfo=None)):
        assert result is None
        return
    assert at < result <= at + dt.timedelta(hours=24)
    assert result.astimezone(customer.get_timezone()).time().replace(tzinfo=None) == end
    assert quiet_hours_end(program, customer, result) is None
