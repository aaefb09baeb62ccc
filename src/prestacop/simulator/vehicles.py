"""Plausible vehicles and offences for simulated violations (plates, makes, codes).

Weights follow what NYC tickets look like: mostly New York passenger plates,
the usual makes and colours in DOF's abbreviations, and the common codes
(street cleaning, meters, no standing, double parking) far ahead of the rest.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from prestacop.domain.events import HUMAN_REVIEW_CODE
from prestacop.domain.violation_codes import code_table

STATES = (("NY", 78), ("NJ", 9), ("PA", 3), ("CT", 2), ("FL", 2), ("MA", 1), ("TX", 1), ("VA", 1))
MAKES = (
    ("TOYOT", 14),
    ("HONDA", 12),
    ("FORD", 11),
    ("NISSA", 9),
    ("CHEVR", 7),
    ("ME/BE", 4),
    ("BMW", 4),
    ("JEEP", 4),
    ("HYUND", 4),
    ("LEXUS", 3),
    ("DODGE", 3),
    ("SUBAR", 2),
    ("ACURA", 2),
    ("VOLKS", 2),
    ("KIA", 2),
    ("INFIN", 2),
    ("AUDI", 2),
    ("FRUEH", 1),
    ("ISUZU", 1),
    ("TESLA", 1),
)
COLORS = (
    ("BLACK", 22),
    ("WHITE", 21),
    ("GRAY", 18),
    ("SILVER", 8),
    ("BLUE", 8),
    ("RED", 6),
    ("GREEN", 3),
    ("BROWN", 3),
    ("YELLOW", 2),
    ("GOLD", 1),
)
BODIES = (("SUBN", 35), ("4DSD", 30), ("VAN", 12), ("DELV", 8), ("PICK", 5), ("2DSD", 4))
COMMON_CODES = (
    (21, 25),
    (38, 15),
    (14, 12),
    (20, 8),
    (46, 9),
    (71, 5),
    (40, 4),
    (19, 3),
    (70, 3),
    (16, 3),
    (31, 2),
    (37, 3),
    (69, 2),
    (17, 2),
    (74, 1),
    (48, 1),
    (50, 1),
)

CAMERA_CODES = (5, 7, 36)  # bus-lane, red-light and speed cameras: not a drone's job


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    plate_state: str
    plate_type: str
    make: str
    color: str
    body_type: str


def plate_for(rng: random.Random, state: str) -> tuple[str, str]:
    """A plate in the state's common format, and its DOF plate type."""
    if state == "NY":
        roll = rng.random()
        if roll < 0.08:
            return _digits(rng, 5) + _letters(rng, 2), "COM"
        if roll < 0.12:
            return "T" + _digits(rng, 6) + "C", "OMT"  # yellow cab
        return _letters(rng, 3) + _digits(rng, 4), "PAS"
    if state == "NJ":
        return _letters(rng, 1) + _digits(rng, 2) + _letters(rng, 3), "PAS"
    if state == "CT":
        return _letters(rng, 2) + _digits(rng, 5), "PAS"
    if state == "FL":
        return _letters(rng, 4) + _digits(rng, 2), "PAS"
    return _letters(rng, 3) + _digits(rng, 4), "PAS"


def random_vehicle(rng: random.Random) -> Vehicle:
    state = _pick(rng, STATES)
    plate, plate_type = plate_for(rng, state)
    color = "YELLOW" if plate_type == "OMT" else _pick(rng, COLORS)
    return Vehicle(plate, state, plate_type, _pick(rng, MAKES), color, _pick(rng, BODIES))


def random_code(rng: random.Random) -> int:
    """A code from the table: usually a common one, sometimes any other."""
    table = code_table()
    if rng.random() < 0.85:
        codes = [(c, w) for c, w in COMMON_CODES if w and c in table]
        return rng.choices([c for c, _ in codes], [w for _, w in codes])[0]
    return rng.choice(sorted(c for c in table if c not in (HUMAN_REVIEW_CODE, *CAMERA_CODES)))
