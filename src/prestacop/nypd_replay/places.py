"""Where a ticket was: precinct → a point inside it, else county → borough centroid.

The ticket files carry no coordinates; the tables shipped in ``prestacop.data``
were derived offline from NYC's precinct and borough boundaries. Every location
says how precise it is, so statistics can weigh or filter it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from typing import Literal

Precision = Literal["precinct", "borough", "unknown"]


@dataclass(frozen=True, slots=True)
class Place:
    drone_id: str
    """A stable synthetic drone per place, so a re-run lands on the same subjects."""
    latitude: float | None
    longitude: float | None
    precinct: int | None
    borough: str | None
    precision: Precision


UNKNOWN = Place("nypd-unknown", None, None, None, None, "unknown")


def _rows(name: str) -> list[dict[str, str]]:
    text = files("prestacop.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in io.StringIO(text) if not line.startswith("#")]
    return list(csv.DictReader(lines))


def _slug(borough: str) -> str:
    return borough.lower().replace(" ", "-")


@cache
def borough_places() -> dict[str, Place]:
    """County spelling (upper case) → the borough's place."""
    table: dict[str, Place] = {}
    for row in _rows("nyc_boroughs.csv"):
        place = Place(
            f"nypd-{_slug(row['borough'])}",
            float(row["lat"]),
            float(row["lon"]),
            None,
            row["borough"],
            "borough",
        )
        for spelling in row["county_spellings"].split(";"):
            table[spelling.upper()] = place
    return table


@cache
def precinct_places() -> dict[int, Place]:
    return {
        int(row["precinct"]): Place(
            f"nypd-pct-{int(row['precinct'])}",
            float(row["lat"]),
            float(row["lon"]),
            int(row["precinct"]),
            row["borough"],
            "precinct",
        )
        for row in _rows("nypd_precincts.csv")
    }


def _precinct_number(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


@lru_cache(maxsize=8192)
def locate(precinct: str, county: str) -> Place:
    """The most precise place the ticket's precinct and county allow.

    A precinct that does not exist (0, 968 for a borough command, ...) falls back
    to the county; an unknown county spelling to "unknown".
    """
    number = _precinct_number(precinct)
    if number is not None and number in precinct_places():
        return precinct_places()[number]
    return borough_places().get(county.strip().upper(), UNKNOWN)
