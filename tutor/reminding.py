"""When a learner is owed their daily reminder: at their chosen wall-clock time in their own time
zone, once per local day, and not hours late (a node that was down does not mail at midnight)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def reminder_day(now: datetime, at: time, zone: ZoneInfo, window: timedelta) -> date | None:
    """The learner's local day whose reminder is owed at the instant `now` (aware), or None.

    Owed from `at` on that day's local clock until `window` of real time later. A wall time that
    happens twice (clocks going back) counts once, its first time; one skipped by clocks going
    forward is taken with the offset before the jump, so it still comes that day."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    today = now.astimezone(zone).date()
    for day in (today, today - timedelta(days=1)):
        start = datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)
        if start <= now < start + window:
            return day
    return None
