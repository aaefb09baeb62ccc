"""The one-lookup ticket instant (``utc_hours``) equals the reference conversion at every
minute of the two days New York changes its clocks, and of an ordinary day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from prestacop.nypd_replay.nyc_time import local_to_utc, parse_date, utc_hours


@pytest.mark.parametrize("day", ["03/11/2018", "11/04/2018", "07/04/2018", "2024-03-10"])
def test_utc_hours_plus_the_time_equals_the_reference_at_every_minute(day: str) -> None:
    hours, midnight = utc_hours(day), parse_date(day)
    for minute in range(24 * 60):
        since = timedelta(minutes=minute)
        assert hours[minute // 60] + since == local_to_utc(midnight + since), (day, minute)
