"""The codec: bytes to typed events or a reason, and schema versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from prestacop.domain import codec, subjects, upcasting
from prestacop.domain.events import PositionReported
from tests.factories import position, wire

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def position_bytes(**overrides: object) -> bytes:
    return msgspec.json.encode(wire(position("m1", time=NOW - timedelta(minutes=1)), **overrides))


def test_a_valid_position_decodes_to_its_event() -> None:
    event = codec.decode(subjects.position("nypd", "d1"), position_bytes(), NOW)
    assert isinstance(event, PositionReported) and event.latitude == 40.7


def test_a_version_newer_than_the_reader_is_refused_not_guessed() -> None:
    with pytest.raises(codec.InvalidMessage, match=r"\$\.v 2 is newer") as err:
        codec.decode(subjects.position("nypd", "d1"), position_bytes(v=2), NOW)
    assert err.value.reason == "invalid_field"


def test_an_older_version_is_upcast_when_read() -> None:
    saved = dict(upcasting.UPCASTERS), dict(upcasting.CURRENT_VERSIONS)

    @upcasting.register("position", 1)
    def altitude_in_feet_becomes_metres(obj: dict[str, object]) -> dict[str, object]:
        return obj | {"altitude_m": float(obj.pop("altitude_ft", 0)) * 0.3048}  # type: ignore[arg-type]

    try:
        old = codec.decode_event(position_bytes(altitude_ft=1000))
        current = codec.decode_event(position_bytes(v=2, altitude_m=10.0))
        assert old.v == 2 and old.altitude_m == pytest.approx(304.8)  # type: ignore[union-attr]
        assert current.altitude_m == 10.0  # type: ignore[union-attr]
    finally:
        upcasting.UPCASTERS.clear(), upcasting.UPCASTERS.update(saved[0])
        upcasting.CURRENT_VERSIONS.clear(), upcasting.CURRENT_VERSIONS.update(saved[1])


def test_a_message_on_a_subject_outside_the_protocol_is_judged_by_its_subject_first() -> None:
    with pytest.raises(codec.InvalidMessage) as err:
        codec.decode("prestacop.nypd.drone.d1.selfie", b"not json", NOW)
    assert err.value.reason == "unknown_subject"


def test_the_sender_applies_the_receivers_rules() -> None:
    event = PositionReported(
        message_id="m1", v=1, drone_id="d1", time=NOW, latitude=-91.0, longitude=0.0
    )  # Structs do not validate on construction
    with pytest.raises(codec.InvalidMessage, match=r"\$\.latitude"):
        codec.encode_checked("nypd", event, NOW)
