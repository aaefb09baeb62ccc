"""Events for tests, built in one place: a field added to the protocol is added here once.

Each factory gives a valid v1 event with plain defaults; keywords override any field.
``wire`` turns an event into the JSON-ready dict a drone sends, for tests that then
break it on purpose (the gate's, the codec's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from prestacop.domain.events import (
    AlertClaimed,
    AlertReleased,
    AnyEvent,
    DroneControlTaken,
    OperatorDecisionRecorded,
    PositionReported,
    ViolationReported,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


def position(message_id: str = "p1", drone_id: str = "d1", **fields: Any) -> PositionReported:
    values: dict[str, Any] = {"time": T0, "latitude": 40.7, "longitude": -73.9} | fields
    return PositionReported(message_id=message_id, drone_id=drone_id, **values)


def violation(
    message_id: str = "a1", code: int = 0, drone_id: str = "d1", **fields: Any
) -> ViolationReported:
    values: dict[str, Any] = {
        "time": T0,
        "latitude": 40.7,
        "longitude": -73.9,
        "image_id": f"img-{message_id}",
    } | fields
    return ViolationReported(
        message_id=message_id, drone_id=drone_id, violation_code=code, **values
    )


def claimed(officer: str = "alice", alert_id: str = "a1", **fields: Any) -> AlertClaimed:
    values: dict[str, Any] = {"message_id": f"c-{officer}-{alert_id}", "drone_id": "d1"}
    return AlertClaimed(alert_id=alert_id, officer_id=officer, **(values | {"time": T0} | fields))


def released(officer: str = "alice", alert_id: str = "a1", **fields: Any) -> AlertReleased:
    values: dict[str, Any] = {"message_id": f"r-{officer}-{alert_id}", "drone_id": "d1"}
    return AlertReleased(alert_id=alert_id, officer_id=officer, **(values | {"time": T0} | fields))


def control(
    officer: str = "alice", alert_id: str = "a1", succeeded: bool = True, **fields: Any
) -> DroneControlTaken:
    values: dict[str, Any] = {"message_id": f"t-{officer}-{alert_id}", "drone_id": "d1"}
    return DroneControlTaken(
        alert_id=alert_id,
        officer_id=officer,
        succeeded=succeeded,
        **(values | {"time": T0} | fields),
    )


def decided(
    officer: str = "alice", alert_id: str = "a1", code: int | None = 21, **fields: Any
) -> OperatorDecisionRecorded:
    values: dict[str, Any] = {"message_id": f"d-{officer}-{alert_id}", "drone_id": "d1"}
    return OperatorDecisionRecorded(
        alert_id=alert_id,
        officer_id=officer,
        corrected_code=code,
        **(values | {"time": T0} | fields),
    )


def wire(event: AnyEvent, **overrides: object) -> dict[str, Any]:
    """The event as a drone sends it (a JSON object with its ``type`` tag), then overridden."""
    body: dict[str, Any] = msgspec.to_builtins(event)
    return {k: v for k, v in body.items() if v is not None} | overrides
