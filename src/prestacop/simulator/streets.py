"""Real New York street segments (hand-measured endpoints) that the drones patrol."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Street:
    """One straight stretch of a street, e.g. 5 AVE from E 34 St to E 59 St."""

    name: str
    start_at: str
    end_at: str
    borough: str
    precinct: int
    start: Point
    end: Point

    @property
    def length_m(self) -> float:
        return distance_m(self.start, self.end)


def distance_m(a: Point, b: Point) -> float:
    """Equirectangular distance: exact enough over a few kilometres."""
    x = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    y = math.radians(b.lat - a.lat)
    return EARTH_RADIUS_M * math.hypot(x, y)


def bearing_deg(a: Point, b: Point) -> float:
    """Compass heading from a to b, in [0, 360)."""
    x = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    y = math.radians(b.lat - a.lat)
    return math.degrees(math.atan2(x, y)) % 360.0


def interpolate(a: Point, b: Point, fraction: float) -> Point:
    return Point(a.lat + (b.lat - a.lat) * fraction, a.lon + (b.lon - a.lon) * fraction)


def offset_m(p: Point, north_m: float, east_m: float) -> Point:
    """A point a few metres away (GPS noise, parking lane)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(p.lat))))
    return Point(p.lat + dlat, p.lon + dlon)


def parse_streets(text: str) -> tuple[Street, ...]:
    rows = csv.DictReader(io.StringIO(text))
    return tuple(
        Street(
            name=row["street"],
            start_at=row["from"],
            end_at=row["to"],
            borough=row["borough"],
            precinct=int(row["precinct"]),
            start=Point(float(row["start_lat"]), float(row["start_lon"])),
            end=Point(float(row["end_lat"]), float(row["end_lon"])),
        )
        for row in rows
    )


@cache
def nyc_streets() -> tuple[Street, ...]:
    text = files("prestacop.simulator").joinpath("streets.csv").read_text(encoding="utf-8")
    return parse_streets(text)
