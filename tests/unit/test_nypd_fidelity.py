"""NYPD replay fidelity: no ticket lost for a fixable reason, and each one traceable to its row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prestacop.domain.codec import decode_event
from prestacop.domain.events import ViolationReported
from prestacop.nypd_replay.layout import unwrap
from prestacop.nypd_replay.source import identity
from prestacop.nypd_replay.translate import Provenance, Rejected, translate
from tests.unit.test_nypd_translation import ROW_43, batches_of, record, write_sample

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def event(**values: str) -> ViolationReported:
    got = translate(record(**values), NOW)
    assert isinstance(got, ViolationReported), got
    return got


def test_a_record_quoted_whole_is_unwrapped_to_its_fields() -> None:
    inner = ROW_43.replace("NORTH PORTLAND AVE", '"N PORTLAND, AVE"')
    wrapped = '"' + inner.replace('"', '""') + '"'  # what a tool writes when it quotes a row
    fields = unwrap(wrapped, 43)
    assert fields is not None and len(fields) == 43 and "N PORTLAND, AVE" in fields
    assert unwrap('"1,2,3"', 43) is None and unwrap("1,2,3", 3) is None


def test_a_wrapped_record_in_a_file_is_kept_not_rejected(tmp_path: Path) -> None:
    other = ROW_43.replace("1457617912", "1457617913", 1)
    path = write_sample(tmp_path, [f'"{ROW_43}"', other])
    (batch,) = batches_of(str(path))
    assert batch.rejects == [] and batch.ids == ["t1:nypd-1457617912", "t1:nypd-1457617913"]


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ("FEEDING METER", 33),
        ("General No Standing", 14),
        ("Snow emergency", 12),
        ("street cleaning", 21),
        ("FIRE HYDRANT", 40),
    ],
)
def test_legacy_descriptions_map_through_the_2013_table(description: str, code: int) -> None:
    e = event(summons="9", issue_date="10/13/2014", violation_description=description)
    assert e.violation_code == code


def test_a_short_name_two_codes_share_stays_unknown() -> None:
    got = translate(
        record(summons="9", issue_date="10/13/2014", violation_description="TAXI STAND"), NOW
    )
    assert isinstance(got, Rejected) and got.reason == "unknown_code"


@pytest.mark.parametrize("clock", ["1260A", "0860A", "2400", "", "NA", "12:6OP"])
def test_an_unreadable_or_blank_time_keeps_the_ticket_on_its_date(clock: str) -> None:
    e = event(summons="9", issue_date="12/31/2016", violation_code="21", violation_time=clock)
    assert e.time_precision == "day"
    assert e.time.astimezone(NY).date().isoformat() == "2016-12-31"
    assert e.time.astimezone(NY).hour == 0


def test_a_readable_time_is_exact() -> None:
    e = event(summons="9", issue_date="12/31/2016", violation_code="21", violation_time="1159P")
    assert e.time_precision == "exact" and e.time == datetime(2017, 1, 1, 4, 59, tzinfo=UTC)


def test_the_camera_fine_is_the_files_own() -> None:
    e = event(summons="9", issue_date="10/13/2020", violation_description="BUS LANE VIOLATION")
    assert e.fine_usd is None  # no amount in the source: the schedule applies
    e = event(summons="9", issue_date="10/13/2020", violation_code="5", fine_amount="50.00")
    assert e.fine_usd == 50


def test_each_event_carries_its_source_file_identity_and_line(tmp_path: Path) -> None:
    path = write_sample(tmp_path, [ROW_43, "1,2", ROW_43.replace("1457617912", "77", 1)])
    (batch,) = batches_of(str(path))
    events = [decode_event(p) for p in batch.payloads]
    assert [(e.source_file, e.source_line) for e in events] == [("t.csv", 2), ("t.csv", 4)]
    assert {e.source_id for e in events} == {identity(str(path))}
    raw = path.read_bytes().decode().split("\r\n")
    assert raw[events[1].source_line - 1].startswith("77,")  # the line leads to the raw row


def test_json_records_carry_their_record_number(tmp_path: Path) -> None:
    path = tmp_path / "cam.json"
    rows = [
        {"summons_number": str(i), "issue_date": "10/13/2020", "violation": "FIRE HYDRANT",
         "fine_amount": "115", "violation_time": "02:45P"}
        for i in (1, 2)
    ]  # fmt: skip
    path.write_text(json.dumps(rows))
    (batch,) = batches_of(str(path))
    events = [decode_event(p) for p in batch.payloads]
    assert [(e.source_file, e.source_line, e.fine_usd) for e in events] == [
        ("cam.json", 1, 115),
        ("cam.json", 2, 115),
    ]


def test_provenance_is_optional_for_pure_callers() -> None:
    got = translate(record(summons="9", issue_date="01/02/2020", violation_code="21"), NOW)
    assert isinstance(got, ViolationReported) and got.source_file is None
    got = translate(
        record(summons="9", issue_date="01/02/2020", violation_code="21"),
        NOW,
        Provenance("f.csv", "abc"),
        7,
    )
    assert isinstance(got, ViolationReported)
    assert (got.source_file, got.source_id, got.source_line) == ("f.csv", "abc", 7)
