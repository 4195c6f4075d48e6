"""Business days: weekends and the deployment's holidays skipped, counted in its time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable


def is_business_day(day: dt.date, holidays: Iterable[dt.date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def add_business_days(
    start: dt.datetime, days: int, zone: str = "UTC", holidays: Iterable[dt.date] = ()
) -> dt.datetime:
    """The end of the ``days``-th business day after ``start``, in the deployment's zone.

    A deadline of "10 business days after close" ends at 23:59:59.999999 local time on the
    10th business day counted from the day after the close.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    tz = zoneinfo.ZoneInfo(zone)
    off = set(holidays)
    day = start.astimezone(tz).date()
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_business_day(day, off):
            counted += 1
    end_local = dt.datetime.combine(day, dt.time(23, 59, 59, 999_999), tzinfo=tz)
    return end_local.astimezone(dt.UTC)
