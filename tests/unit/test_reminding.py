"""The reminder's local time, by property: once per local day, only at the chosen time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tutor.reminding import reminder_day

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham",
         "Australia/Lord_Howe", "America/St_Johns"]
HOUR = timedelta(hours=1)


def test_owed_at_the_local_time_and_not_before() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 08:00 in Paris in winter is 07:00 UTC.
    assert reminder_day(datetime(2026, 1, 5, 6, 59, tzinfo=UTC), time(8), paris, HOUR) is None
    day = reminder_day(datetime(2026, 1, 5, 7, 0, tzinfo=UTC), time(8), paris, HOUR)
    assert day == datetime(2026, 1, 5).date()
    assert reminder_day(datetime(2026, 1, 5, 8, 0, tzinfo=UTC), time(8), paris, HOUR) is None


def test_a_window_past_midnight_belongs_to_the_day_it_started() -> None:
    utc = ZoneInfo("UTC")
    now = datetime(2026, 1, 6, 0, 20, tzinfo=UTC)
    assert reminder_day(now, time(23, 50), utc, HOUR) == datetime(2026, 1, 5).date()


def test_a_repeated_wall_time_owes_one_reminder() -> None:
    # New York goes back from 02:00 to 01:00 on 2026-11-01: 01:30 happens twice.
    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    half = timedelta(minutes=30)
    assert reminder_day(first, time(1, 30), ny, half) is not None
    assert reminder_day(second, time(1, 30), ny, half) is None


def test_the_local_day_is_the_learners_own() -> None:
    # 23:30 local in New York on the 5th is already the 6th in UTC.
    ny = ZoneInfo("America/New_York")
    now = datetime(2026, 1, 6, 4, 30, tzinfo=UTC)
    assert reminder_day(now, time(23, 15), ny, HOUR) == datetime(2026, 1, 5).date()


def test_a_time_skipped_by_daylight_saving_still_gets_its_reminder() -> None:
    # Paris jumps from 02:00 to 03:00 on 2026-03-29: 02:30 never happens that day.
    paris = ZoneInfo("Europe/Paris")
    # Taken with the winter offset, it falls at 03:30 summer time.
    assert reminder_day(datetime(2026, 3, 29, 1, 29, tzinfo=UTC), time(2, 30), paris, HOUR) \
        is None
    late = datetime(2026, 3, 29, 1, 45, tzinfo=UTC)  # 03:45 local
    assert reminder_day(late, time(2, 30), paris, HOUR) == late.date()


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        reminder_day(datetime(2026, 1, 5, 7), time(8), ZoneInfo("UTC"), HOUR)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
       st.times(), st.sampled_from(ZONES), st.integers(min_value=1, max_value=180))
def test_owed_only_inside_the_window_and_on_that_local_day(
        instant: datetime, at: time, zone_name: str, minutes: int) -> None:
    zone = ZoneInfo(zone_name)
    now = instant.replace(tzinfo=UTC)
    day = reminder_day(now, at.replace(tzinfo=None), zone, timedelta(minutes=minutes))
    local = now.astimezone(zone)
    if day is not None:
        # The chosen day is today, or yesterday for a window running past midnight.
        assert day in (local.date(), local.date() - timedelta(days=1))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
       st.times(), st.sampled_from(ZONES))
def test_minute_by_minute_a_day_owes_its_reminder_at_most_once_per_local_day(
        start: datetime, at: time, zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    begin = start.replace(tzinfo=UTC)
    days = [reminder_day(begin + timedelta(minutes=m), at, zone, HOUR)
            for m in range(0, 48 * 60, 7)]
    owed = [d for d in days if d is not None]
    # Each local day shows up in one unbroken run (a window never reopens the same day, even
    # when clocks go back)...
    runs = [d for i, d in enumerate(owed) if i == 0 or owed[i - 1] != d]
    assert len(runs) == len(set(runs))
    # ...and two days later at the latest, some day was owed.
    assert runs
