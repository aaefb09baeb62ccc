"""The replay's quick check of an event agrees with decoding it back (the receivers' rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from prestacop.domain import codec
from prestacop.domain.codec import InvalidMessage
from prestacop.domain.events import ViolationReported
from prestacop.domain.violation_codes import is_known
from prestacop.nypd_replay import checked

NOW = datetime(2024, 1, 1, tzinfo=UTC)
GOOD = ViolationReported(
    message_id="nypd-1234567890",
    drone_id="nypd-pct-14",
    time=NOW - timedelta(days=30),
    latitude=40.75,
    longitude=-73.99,
    violation_code=21,
    plate="ABC1234",
    plate_state="NY",
    vehicle_make="TOYOT",
    precinct=14,
    location_precision="precinct",
    origin="nypd_history",
    summons_number="1234567890",
)
BAD = {
    "plate": "X" * 17,
    "plate_state": "TOOLONG",
    "latitude": 91.0,
    "longitude": float("nan"),
    "time": datetime(2023, 1, 1),  # no time zone
    "violation_code": 100,
    "precinct": 1000,
    "message_id": "has space",
    "drone_id": "dots.are.subject.separators",
    "location_precision": "everywhere",
    "vehicle_make": "M" * 65,
}


def test_a_valid_event_passes_and_gives_the_reference_bytes_and_subject() -> None:
    assert checked.compile_check(ViolationReported)(GOOD)
    assert checked.encode_checked("nypd", GOOD, NOW) == codec.encode_checked("nypd", GOOD, NOW)


def _outcome(encode: object, event: ViolationReported) -> object:
    try:
        return encode("nypd", event, NOW)  # type: ignore[operator]
    except InvalidMessage as err:
        return (err.reason, err.detail)


@pytest.mark.parametrize("field", sorted(BAD))
def test_each_broken_constraint_fails_the_check_and_ends_as_the_receivers_rules_say(
    field: str,
) -> None:
    event = msgspec.structs.replace(GOOD, **{field: BAD[field]})
    assert not checked.compile_check(ViolationReported)(event)
    ours = _outcome(checked.encode_checked, event)
    assert ours == _outcome(codec.encode_checked, event)
    if field != "longitude":  # NaN is sent as null, which an optional longitude accepts
        assert ours[0] == "invalid_field"  # type: ignore[index]


def test_context_rules_still_apply_to_an_event_that_passes_the_check() -> None:
    future = msgspec.structs.replace(GOOD, time=NOW + timedelta(days=1))
    assert checked.compile_check(ViolationReported)(future)
    with pytest.raises(InvalidMessage, match="future_time"):
        checked.encode_checked("nypd", future, NOW)
    code = next(c for c in range(1, 100) if not is_known(c))
    unknown = msgspec.structs.replace(GOOD, violation_code=code)
    with pytest.raises(InvalidMessage, match="unknown_code"):
        checked.encode_checked("nypd", unknown, NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"plate": "GZ\x00H7"},  # a NUL in a CSV field: it went into the log, then no view took it
        {"street": "\x00"},
        {"time": datetime(1, 1, 1, 5, tzinfo=UTC)},  # no local day in New York
        {"source_line": 2**63},
    ],
    ids=["NUL in plate", "NUL in street", "year 1", "line past bigint"],
)
def test_what_the_receivers_refuse_is_refused_on_the_fast_path_too(change: dict) -> None:  # type: ignore[type-arg]
    event = msgspec.structs.replace(GOOD, **change)
    ours = _outcome(checked.encode_checked, event)
    assert ours == _outcome(codec.encode_checked, event)
    assert ours[0] == "invalid_field"  # type: ignore[index]
