"""Wire protocol v1: the events that make up PrestaCop's log.

Events live forever, so they evolve by msgspec's rules only: a new field gets a
default and goes last; nothing is renamed or retyped. A change that cannot
follow those rules bumps ``v`` and adds an upcaster (see ``upcasting.py``).

Field constraints are declared here so that decoding bytes *is* validating them:
a bad value fails with the JSON path of the field (``$.latitude``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1
VIOLATION_VERSION = 2
"""v2 adds ``image_sha256`` and ``image_size``; a v1 violation is read as v2 without them."""

#: The violation code a drone sends when it cannot qualify an offence itself.
HUMAN_REVIEW_CODE = 0

Token = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""A drone id or officer id: also a NATS subject token, so no dots or spaces."""
MessageId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_:-]{1,128}$")]
"""Unique per event; also usable as a subject token (no dots), e.g. a UUID or ``nypd:<summons>``."""
Latitude = Annotated[float, Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Meta(ge=-180.0, le=180.0)]
Heading = Annotated[float, Meta(ge=0.0, lt=360.0)]
Percent = Annotated[float, Meta(ge=0.0, le=100.0)]
Confidence = Annotated[float, Meta(ge=0.0, le=1.0)]
ViolationCode = Annotated[int, Meta(ge=0, le=99)]
ShortText = Annotated[str, Meta(max_length=64)]
Note = Annotated[str, Meta(max_length=2000)]
UtcTime = Annotated[datetime, Meta(tz=True)]
Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]
"""A count or line number: PostgreSQL's bigint holds it."""

Origin = Literal["drone", "nypd_history"]
LocationPrecision = Literal["gps", "street", "precinct", "borough", "unknown"]
TimePrecision = Literal["exact", "day"]
"""``day``: only the date is known (the source's time was blank or unreadable); ``time``
is then the local midnight of that date."""


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event: a unique id (the de-duplication key) and a schema version."""

    message_id: MessageId
    v: int = SCHEMA_VERSION


class PositionReported(Event, frozen=True, kw_only=True, tag="position"):
    """The standard message each drone sends regularly."""

    drone_id: Token
    time: UtcTime
    latitude: Latitude
    longitude: Longitude
    altitude_m: float | None = None
    heading_deg: Heading | None = None
    speed_mps: Annotated[float, Meta(ge=0.0)] | None = None
    battery_pct: Percent | None = None


class ViolationReported(Event, frozen=True, kw_only=True, tag="violation"):
    """A violation seen by a drone (or replayed from NYPD's history).

    ``violation_code`` 0 (``HUMAN_REVIEW_CODE``) asks an officer to qualify it.
    The event's ``message_id`` is the violation's id everywhere else.
    """

    v: int = VIOLATION_VERSION
    drone_id: Token
    time: UtcTime
    latitude: Latitude | None
    longitude: Longitude | None
    violation_code: ViolationCode
    image_id: MessageId | None = None
    plate: Annotated[str, Meta(max_length=16)] | None = None
    plate_state: Annotated[str, Meta(max_length=4)] | None = None
    plate_type: Annotated[str, Meta(max_length=8)] | None = None
    confidence: Confidence | None = None
    vehicle_make: ShortText | None = None
    vehicle_color: ShortText | None = None
    vehicle_body_type: ShortText | None = None
    street: Annotated[str, Meta(max_length=128)] | None = None
    precinct: Annotated[int, Meta(ge=0, le=999)] | None = None
    borough: ShortText | None = None
    location_precision: LocationPrecision = "gps"
    origin: Origin = "drone"
    summons_number: ShortText | None = None
    altitude_m: float | None = None
    heading_deg: Heading | None = None
    battery_pct: Percent | None = None
    time_precision: TimePrecision = "exact"
    fine_usd: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    """The fine the source itself carries (camera layouts); None: the fine schedule in force
    at the ticket's local date and place applies."""
    source_file: Annotated[str, Meta(max_length=255)] | None = None
    """Provenance of history: the file's name, its content identity and the line (or JSON
    record number) of the raw row, so an analyst can find it."""
    source_id: ShortText | None = None
    source_line: Count | None = None
    image_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None
    """v2: the image's SHA-256 (hex) and size in bytes bind the violation to its evidence."""
    image_size: Annotated[int, Meta(ge=0, le=8 * 1024 * 1024)] | None = None


class AlertClaimed(Event, frozen=True, kw_only=True, tag="alert.claimed"):
    """An officer took charge of a human-review alert; only one may hold it."""

    alert_id: MessageId
    drone_id: Token
    officer_id: Token
    time: UtcTime


class AlertReleased(Event, frozen=True, kw_only=True, tag="alert.released"):
    """An officer let go of an alert without deciding it."""

    alert_id: MessageId
    drone_id: Token
    officer_id: Token
    time: UtcTime
    note: Note | None = None


class DroneControlTaken(Event, frozen=True, kw_only=True, tag="alert.control_taken"):
    """An officer ran the drone-control software for an alert (who, when, and if it worked)."""

    alert_id: MessageId
    drone_id: Token
    officer_id: Token
    time: UtcTime
    succeeded: bool
    detail: Note | None = None


class OperatorDecisionRecorded(Event, frozen=True, kw_only=True, tag="decision"):
    """An officer's verdict on a violation: the right code, or ``None`` for no violation."""

    alert_id: MessageId
    drone_id: Token
    officer_id: Token
    time: UtcTime
    corrected_code: Annotated[int, Meta(ge=1, le=99)] | None
    note: Note | None = None


class ReplayRunRecorded(Event, frozen=True, kw_only=True, tag="replay.run"):
    """The summary of one NYPD replay run, in the force's history (``replay_runs`` view)."""

    run_id: Token
    time: UtcTime
    """When the run finished."""
    started_at: UtcTime
    files: list[Annotated[str, Meta(max_length=255)]]
    rows_read: Count
    events: Count
    duplicates: Count = 0
    found_in_log: Count = 0
    rejected: Count = 0
    rejected_by_reason: dict[ShortText, Count] = msgspec.field(default_factory=dict)
    ok: bool = True


class ReplayRejectRecorded(Event, frozen=True, kw_only=True, tag="replay.reject"):
    """A ticket row the replay could not turn into an event: where, why, and the raw row."""

    run_id: Token
    time: UtcTime
    source_file: Annotated[str, Meta(max_length=255)]
    source_id: ShortText | None = None
    line: Count
    reason: ShortText
    detail: Note
    raw: Annotated[str, Meta(max_length=65_536)]


AnyEvent = (
    PositionReported
    | ViolationReported
    | AlertClaimed
    | AlertReleased
    | DroneControlTaken
    | OperatorDecisionRecorded
    | ReplayRunRecorded
    | ReplayRejectRecorded
)
AlertEvent = AlertClaimed | AlertReleased | DroneControlTaken | OperatorDecisionRecorded
