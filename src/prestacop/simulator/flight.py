"""How one simulated drone flies: patrol a street, fly to the next, land to recharge.

Pure and deterministic: all chance comes from the ``random.Random`` passed in
and time advances only by ``step(dt)``, so a seed replays the same flights.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from prestacop.simulator.streets import (
    Point,
    Street,
    bearing_deg,
    distance_m,
    interpolate,
)

Mode = Literal["patrol", "transit", "charging"]

PATROL_SPEED_MPS = (4.0, 8.0)
TRANSIT_SPEED_MPS = 15.0
PATROL_ALTITUDE_M = (25.0, 45.0)
TRANSIT_ALTITUDE_M = 80.0
DRAIN_PCT_PER_S = 0.03  # hovering: about 55 minutes from full
DRAIN_PCT_PER_MPS_S = 0.002
CHARGE_PCT_PER_S = 0.5
LAND_BELOW_PCT = 20.0
RESUME_ABOVE_PCT = 98.0


@dataclass(frozen=True, slots=True)
class Reading:
    """What the drone's sensors say after a step: the body of a position report."""

    position: Point
    altitude_m: float
    heading_deg: float
    speed_mps: float
    battery_pct: float
    mode: Mode
    street: Street | None


@dataclass(slots=True)
class _Leg:
    start: Point
    end: Point
    speed: float
    altitude: float
    street: Street | None  # None while flying between streets
    done_m: float = 0.0

    @property
    def length_m(self) -> float:
        return distance_m(self.start, self.end)


class Flight:
    def __init__(
        self, rng: random.Random, streets: tuple[Street, ...], battery_pct: float | None = None
    ) -> None:
        if not streets:
            raise ValueError("a flight needs at least one street")
        self._rng = rng
        self._streets = streets
        self.battery = battery_pct if battery_pct is not None else rng.uniform(60.0, 100.0)
        self.mode: Mode = "patrol"
        street = rng.choice(streets)
        self._target: Street = street
        self._leg = self._patrol(street, from_start=rng.random() < 0.5)
        self._leg.done_m = rng.uniform(0.0, self._leg.length_m)
        self._position = self._where()

    def _patrol(self, street: Street, *, from_start: bool) -> _Leg:
        a, b = (street.start, street.end) if from_start else (street.end, street.start)
        speed = self._rng.uniform(*PATROL_SPEED_MPS)
        return _Leg(a, b, speed, self._rng.uniform(*PATROL_ALTITUDE_M), street)

    def _next_leg(self) -> _Leg:
        here = self._leg.end
        if self._leg.street is None:  # arrived at a street's end: patrol it
            street = self._target
            return self._patrol(street, from_start=distance_m(here, street.start) < 1.0)
        others = [s for s in self._streets if s is not self._leg.street] or list(self._streets)
        others.sort(key=lambda s: min(distance_m(here, s.start), distance_m(here, s.end)))
        self._target = self._rng.choice(others[:3])
        start, end = self._target.start, self._target.end
        entry = start if distance_m(here, start) <= distance_m(here, end) else end
        return _Leg(here, entry, TRANSIT_SPEED_MPS, TRANSIT_ALTITUDE_M, None)

    def _where(self) -> Point:
        leg = self._leg
        return interpolate(leg.start, leg.end, leg.done_m / leg.length_m if leg.length_m else 1.0)

    def step(self, dt: float) -> Reading:
        """Advance ``dt`` seconds of flight and read the sensors."""
        if self.mode == "charging":
            self.battery = min(100.0, self.battery + CHARGE_PCT_PER_S * dt)
            if self.battery >= RESUME_ABOVE_PCT:
                self.mode = "patrol"
            return Reading(self._position, 0.0, 0.0, 0.0, self.battery, "charging", None)
        leg = self._leg
        left = leg.speed * dt
        while left > 0:
            remaining = leg.length_m - leg.done_m
            if left < remaining:
                leg.done_m += left
                break
            left -= max(remaining, 0.0)
            leg = self._leg = self._next_leg()
        self._position = self._where()
        self.battery = max(
            0.0, self.battery - (DRAIN_PCT_PER_S + DRAIN_PCT_PER_MPS_S * leg.speed) * dt
        )
        self.mode = "patrol" if leg.street is not None else "transit"
        if self.battery < LAND_BELOW_PCT:
            self.mode = "charging"  # lands where it is; a crew swaps the battery
            return Reading(self._position, 0.0, 0.0, 0.0, self.battery, "charging", None)
        return Reading(
            self._position,
            leg.altitude,
            bearing_deg(leg.start, leg.end),
            leg.speed,
            self.battery,
            self.mode,
            leg.street,
        )
