"""Ticket dates and times (New York local) to UTC, without a time-zone database.

The NYPD machine may have no tz database (Windows without ``tzdata``), so the
US Eastern rules are written out here; a test checks them against ``zoneinfo``.
Ambiguous and skipped local times resolve like ``zoneinfo`` with ``fold=0``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

EST = timedelta(hours=5)
EDT = timedelta(hours=4)


class BadDate(ValueError):
    """An issue date that is not a calendar date."""


class BadTime(ValueError):
    """A violation time that is not a time of day."""


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _last_sunday(year: int, month: int) -> date:
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


@lru_cache(maxsize=256)
def dst_bounds(year: int) -> tuple[datetime, datetime]:
    """Local wall-clock span [start, end) that is daylight time in New York that year."""
    if year >= 2007:
        start, end = _nth_sunday(year, 3, 2), _nth_sunday(year, 11, 1)
    elif year >= 1987:
        start, end = _nth_sunday(year, 4, 1), _last_sunday(year, 10)
    else:
        start, end = _last_sunday(year, 4), _last_sunday(year, 10)
    # Skipped hour 02:00-03:00 counts as standard time, repeated 01:00-02:00 as daylight.
    return (
        datetime(start.year, start.month, start.day, 3),
        datetime(end.year, end.month, end.day, 2),
    )


def local_to_utc(local: datetime) -> datetime:
    """A naive New York wall-clock time as an aware UTC datetime."""
    start, end = dst_bounds(local.year)
    offset = EDT if start <= local < end else EST
    return (local + offset).replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def parse_date(text: str) -> datetime:
    """``MM/DD/YYYY``, ``M/D/YY``, ``YYYY-MM-DD`` (an appended time is ignored) → midnight."""
    part = text.strip().replace("T", " ").split(" ", 1)[0]
    try:
        if "/" in part:
            m, d, y = (int(p) for p in part.split("/"))
            if len(part.rsplit("/", 1)[1]) <= 2:
                y += 2000 if y < 70 else 1900
        elif "-" in part:
            y, m, d = (int(p) for p in part.split("-"))
        else:
            raise ValueError
        return datetime(y, m, d)
    except ValueError:
        raise BadDate(f"issue date {text!r} is not a date (MM/DD/YYYY)") from None


@lru_cache(maxsize=4096)
def parse_time(text: str) -> timedelta:
    """``0752A``, ``1130P``, ``09:43A``, ``1106`` (24-hour), ``0010P`` → time since midnight.

    ``12xxA`` is just after midnight; a ``P`` on an hour of 12 or more (``1334P``)
    is read as 24-hour time. A blank time is midnight.
    """
    s = text.strip().upper().replace(":", "")
    if not s:
        return timedelta(0)
    suffix = s[-1] if s[-1] in "AP" else ""
    digits = s[:-1] if suffix else s
    if not digits.isdigit() or not 3 <= len(digits) <= 4:
        raise BadTime(f"violation time {text!r} is not HHMM[A|P]")
    hour, minute = int(digits[:-2]), int(digits[-2:])
    if suffix == "A" and hour == 12:
        hour = 0
    elif suffix == "P" and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        raise BadTime(f"violation time {text!r} is not a time of day")
    return timedelta(hours=hour, minutes=minute)


def ticket_time(issue_date: str, violation_time: str) -> datetime:
    """The UTC instant of a ticket from its New York issue date and violation time."""
    return local_to_utc(parse_date(issue_date) + parse_time(violation_time))
