"""What a patrolling drone reports when it sees a violation: vehicle, code, photo, place.

Pure: chance comes from the ``random.Random`` passed in, time and ids are passed
in, so the same seed and the same flight give the same sightings.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prestacop.domain.events import HUMAN_REVIEW_CODE
from prestacop.simulator.flight import Reading
from prestacop.simulator.images import CONTENT_TYPE, vehicle_png
from prestacop.simulator.streets import offset_m
from prestacop.simulator.vehicles import random_code, random_vehicle

GPS_SPREAD_M = 4.0


@dataclass(frozen=True, slots=True)
class Sighting:
    """The arguments of one ``DroneClient.report_violation`` call."""

    code: int
    image: bytes
    latitude: float
    longitude: float
    details: dict[str, Any]

    @property
    def needs_review(self) -> bool:
        return self.code == HUMAN_REVIEW_CODE


def sight(
    rng: random.Random,
    reading: Reading,
    *,
    review_ratio: float,
    now: datetime,
    new_id: Callable[[], str],
) -> Sighting:
    """A vehicle seen from the street the drone patrols; unsure ones go to an officer."""
    street = reading.street
    if street is None:
        raise ValueError("a drone sees violations only while patrolling a street")
    vehicle = random_vehicle(rng)
    review = rng.random() < review_ratio
    code = HUMAN_REVIEW_CODE if review else random_code(rng)
    image = vehicle_png(vehicle.plate, vehicle.color, rng)
    spot = offset_m(reading.position, rng.gauss(0, GPS_SPREAD_M), rng.gauss(0, GPS_SPREAD_M))
    confidence = rng.uniform(0.25, 0.6) if review else rng.uniform(0.7, 0.99)
    details: dict[str, Any] = dict(
        plate=vehicle.plate,
        plate_state=vehicle.plate_state,
        plate_type=vehicle.plate_type,
        confidence=round(confidence, 3),
        vehicle_make=vehicle.make,
        vehicle_color=vehicle.color,
        vehicle_body_type=vehicle.body_type,
        street=street.name,
        precinct=street.precinct,
        borough=street.borough,
        altitude_m=round(reading.altitude_m, 1),
        heading_deg=round(reading.heading_deg, 1) % 360.0,
        battery_pct=round(reading.battery_pct, 2),
        time=now,
        message_id=new_id(),
        image_id=new_id(),
        image_content_type=CONTENT_TYPE,
    )
    return Sighting(code, image, round(spot.lat, 6), round(spot.lon, 6), details)
