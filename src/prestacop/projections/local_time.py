"""Each force's time zone: statistics count the force's local days and hours, not UTC's.

A ticket at 23:59 in New York is 04:59 UTC the next day; counting UTC days put
every evening ticket on the wrong day. The zone of a force is a setting:
``PRESTACOP_TIME_ZONES="nypd=America/New_York;lapd=America/Los_Angeles"``, else
the built-in table, else ``PRESTACOP_TIME_ZONE`` (default America/New_York, the
city PrestaCop serves). Changing a force's zone changes the views' meaning:
rebuild them (``prestacop project rebuild statistics``).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "America/New_York"
BUILTIN_ZONES = {"nypd": "America/New_York"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BadTimeZone(ValueError):
    """A configured zone name that the time-zone database does not know."""


def _configured() -> dict[str, str]:
    table = dict(BUILTIN_ZONES)
    for item in os.environ.get("PRESTACOP_TIME_ZONES", "").replace(",", ";").split(";"):
        tenant, sep, zone = item.partition("=")
        if sep:
            table[tenant.strip()] = zone.strip()
    return table


def zone_names() -> tuple[dict[str, str], str]:
    """The configured zone of each named force, and the zone of any other force (for SQL)."""
    return _configured(), os.environ.get("PRESTACOP_TIME_ZONE") or DEFAULT_ZONE


@cache
def zone_for(tenant: str) -> ZoneInfo:
    """The time zone of a force (cached: read once per process)."""
    named, other = zone_names()
    name = named.get(tenant) or other
    try:
        return ZoneInfo(name)
    except (ValueError, LookupError) as err:
        raise BadTimeZone(f"time zone {name!r} of force {tenant!r} is unknown: {err}") from None


def local(tenant: str, time: datetime) -> datetime:
    """An aware instant as the force's wall-clock time."""
    return time.astimezone(zone_for(tenant))


def local_day(tenant: str, time: datetime) -> date:
    return local(tenant, time).date()
