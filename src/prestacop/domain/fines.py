"""The fine of a ticket: the schedule in force on its local date and at its place, or the
amount its source carries (camera layouts).

Fines change over the years; applying today's schedule to 2016 tickets overstated a year's
total. The schedule's history is data (``data/fine_schedule.csv``), so it can be corrected
without code. Place: NYC has two rates, Manhattan at or below 96th Street and elsewhere;
a ticket knows its precinct, not its street number, so Manhattan precincts 1-22 count as
below 96th (precincts 23 and 24 straddle 96th Street and get the "elsewhere" rate).
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Literal

FineBasis = Literal["schedule", "source", "none"]
_MANHATTAN = frozenset({"manhattan", "mn", "ny", "new york"})


@dataclass(frozen=True, slots=True)
class Rate:
    code: int
    valid_from: date
    manhattan_96th_and_below: int | None
    all_other_areas: int | None
    source: str


def _amount(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


@cache
def schedule() -> dict[int, tuple[Rate, ...]]:
    """Code → its rates, oldest first."""
    text = files("prestacop.data").joinpath("fine_schedule.csv").read_text(encoding="utf-8")
    lines = [line for line in io.StringIO(text) if not line.startswith("#")]
    table: dict[int, list[Rate]] = {}
    for row in csv.DictReader(lines):
        rate = Rate(
            int(row["code"]),
            date.fromisoformat(row["valid_from"]),
            _amount(row["manhattan_96th_and_below"]),
            _amount(row["all_other_areas"]),
            row["source"],
        )
        table.setdefault(rate.code, []).append(rate)
    return {code: tuple(sorted(rates, key=lambda r: r.valid_from)) for code, rates in table.items()}


def below_96th(borough: str | None, precinct: int | None) -> bool:
    return (
        precinct is not None and 0 < precinct < 23 and (borough or "").strip().lower() in _MANHATTAN
    )


def rate_on(code: int, day: date) -> Rate | None:
    """The rate in force on ``day``; a code's earliest rate also covers days before it."""
    rates = schedule().get(code)
    if not rates:
        return None
    i = bisect_right([r.valid_from for r in rates], day)
    return rates[max(i - 1, 0)]


def scheduled_fine(code: int, day: date, borough: str | None, precinct: int | None) -> int | None:
    rate = rate_on(code, day)
    if rate is None:
        return None
    if below_96th(borough, precinct):
        return rate.manhattan_96th_and_below
    return rate.all_other_areas


def fine_of_day(
    code: int | None,
    day: date,
    borough: str | None,
    precinct: int | None,
    own: int | None = None,
) -> tuple[int, FineBasis]:
    """The fine in dollars and where it comes from. ``own``: the source's amount, which wins
    (it is what was charged). No code (dismissed) or no rate: 0, ``none``."""
    if code is None:
        return 0, "none"
    if own is not None:
        return own, "source"
    amount = scheduled_fine(code, day, borough, precinct)
    return (amount, "schedule") if amount is not None else (0, "none")
