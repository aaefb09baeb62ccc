"""NYPD replay, pure steps: times, layouts, translation, framing (plain lists and bytes)."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from prestacop.nypd_replay.batches import produce
from prestacop.nypd_replay.frames import Batch, Failed, Position, Started
from prestacop.nypd_replay.layout import FIELDS, UnknownLayout, detect
from prestacop.nypd_replay.nyc_time import BadTime, local_to_utc, parse_date, parse_time
from prestacop.nypd_replay.reading import frame
from prestacop.nypd_replay.translate import Rejected, translate

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HEADER_43 = (
    "Summons Number,Plate ID,Registration State,Plate Type,Issue Date,Violation Code,"
    "Vehicle Body Type,Vehicle Make,Issuing Agency,Street Code1,Street Code2,Street Code3,"
    "Vehicle Expiration Date,Violation Location,Violation Precinct,Issuer Precinct,Issuer Code,"
    "Issuer Command,Issuer Squad,Violation Time,Time First Observed,Violation County,"
    "Violation In Front Of Or Opposite,House Number,Street Name,Intersecting Street,"
    "Date First Observed,Law Section,Sub Division,Violation Legal Code,"
    "Days Parking In Effect    ,From Hours In Effect,To Hours In Effect,Vehicle Color,"
    "Unregistered Vehicle?,Vehicle Year,Meter Number,Feet From Curb,Violation Post Code,"
    "Violation Description,No Standing or Stopping Violation,Hydrant Violation,"
    "Double Parking Violation"
)
ROW_43 = (
    "1457617912,JEB5683,NY,PAS,06/25/2021,40,VAN,FORD,P,63430,69230,13490,20221004,0088,88,88,"
    "967603,0088,0000,0130A,0125A,K,O,100,NORTH PORTLAND AVE,,0,408,C4,,BBBBBBB,ALL,ALL,GY,0,"
    "2007,-,3,,,,,"
)


def record(**values: str) -> list[str]:
    out = [""] * len(FIELDS)
    for name, value in values.items():
        out[FIELDS.index(name)] = value
    return out


@pytest.mark.parametrize(
    ("text", "hours", "minutes"),
    [
        ("0752A", 7, 52),
        ("1130P", 23, 30),
        ("1205A", 0, 5),
        ("0010P", 12, 10),
        ("1106", 11, 6),
        ("1334P", 13, 34),
        ("09:43A", 9, 43),
        ("1200P", 12, 0),
        ("", 0, 0),
    ],
)
def test_violation_times_read_as_real_rows_write_them(text: str, hours: int, minutes: int) -> None:
    assert parse_time(text) == timedelta(hours=hours, minutes=minutes)


@pytest.mark.parametrize("text", ["2575P", "12345", "ABCD", "0999A", "07"])
def test_a_violation_time_that_is_no_time_of_day_is_refused(text: str) -> None:
    with pytest.raises(BadTime):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("06/25/2021", datetime(2021, 6, 25)),
        ("6/5/2021", datetime(2021, 6, 5)),
        ("6/5/21", datetime(2021, 6, 5)),
        ("2021-06-25T00:00:00.000", datetime(2021, 6, 25)),
        ("06/25/2021 12:00:00 AM", datetime(2021, 6, 25)),
    ],
)
def test_issue_dates_in_every_seen_format_are_read(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


def test_new_york_local_time_converts_to_utc_exactly_like_the_tz_database() -> None:
    ny = ZoneInfo("America/New_York")
    moment = datetime(1995, 1, 1)
    while moment < datetime(2032, 1, 1):
        expected = moment.replace(tzinfo=ny).astimezone(UTC)
        assert local_to_utc(moment) == expected, moment
        moment += timedelta(minutes=30 if moment.month in (3, 4, 10, 11) else 1440 + 30)


def test_a_yearly_file_header_is_understood_despite_its_odd_spacing() -> None:
    layout = detect(next(csv.reader([HEADER_43])))
    assert layout.width == 43 and "FY2017" in layout.name
    assert "Days Parking In Effect    " in layout.ignored


def test_snake_case_dotted_and_row_numbered_headers_mean_the_same_fields() -> None:
    snake = detect(["summons_number", "plate_id", "issue_date", "violation_code"])
    dotted = detect(["", "Summons.Number", "Plate.ID", "Issue.Date", "Violation.Code"])
    assert snake.columns[FIELDS.index("summons")] == 0
    assert dotted.columns[FIELDS.index("summons")] == 1
    assert dotted.columns[FIELDS.index("violation_code")] == 4


def test_the_camera_violations_layout_is_understood() -> None:
    header = (
        "plate,state,license_type,summons_number,issue_date,violation_time,violation,"
        "judgment_entry_date,fine_amount,penalty_amount,interest_amount,reduction_amount,"
        "payment_amount,amount_due,precinct,county,issuing_agency,violation_status,summons_image"
    ).split(",")
    layout = detect(header)
    assert layout.name == "Open Parking and Camera Violations" and layout.width == 19


def test_an_unknown_header_names_the_columns_not_understood() -> None:
    with pytest.raises(UnknownLayout, match=r"'Colour Of Sky'.*") as err:
        detect(["Summons Number", "Issue Date", "Violation Code", "Colour Of Sky"])
    with pytest.raises(UnknownLayout, match="no column for summons"):
        detect(["Ticket", "Issue Date", "Violation Code"])
    assert "Colour Of Sky" in str(err.value)


def test_a_ticket_becomes_a_history_violation_at_its_precinct() -> None:
    event = translate(
        record(
            summons="1457617912", plate="JEB5683", state="NY", issue_date="06/25/2021",
            violation_code="40", violation_time="0130A", precinct="88", county="K",
            house_number="100", street="NORTH PORTLAND AVE",
        ),
        NOW,
    )  # fmt: skip
    assert not isinstance(event, Rejected)
    assert event.message_id == "nypd-1457617912" and event.summons_number == "1457617912"
    assert event.origin == "nypd_history" and event.image_id is None
    assert event.time == datetime(2021, 6, 25, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert event.drone_id == "nypd-pct-88" and event.location_precision == "precinct"
    assert event.latitude is not None and 40.6 < event.latitude < 40.8
    assert event.street == "100 NORTH PORTLAND AVE" and event.violation_code == 40


def test_without_a_known_precinct_the_borough_or_unknown_is_said() -> None:
    base = {"summons": "1", "issue_date": "01/02/2020", "violation_code": "21"}
    borough = translate(record(**base, precinct="0", county="Qns"), NOW)
    nowhere = translate(record(**base, precinct="", county=""), NOW)
    assert not isinstance(borough, Rejected) and not isinstance(nowhere, Rejected)
    assert (borough.borough, borough.location_precision) == ("Queens", "borough")
    assert nowhere.location_precision == "unknown" and nowhere.latitude is None


def test_the_camera_data_sets_description_gives_the_code() -> None:
    event = translate(
        record(summons="8", issue_date="10/13/2020", violation_description="FIRE HYDRANT"), NOW
    )
    assert not isinstance(event, Rejected) and event.violation_code == 40


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"summons": "", "issue_date": "01/02/2020", "violation_code": "21"}, "blank_summons"),
        ({"summons": "1", "issue_date": "13/45/2020", "violation_code": "21"}, "bad_date"),
        ({"summons": "1", "issue_date": "01/02/2020", "violation_code": "94"}, "unknown_code"),
        ({"summons": "1", "issue_date": "07/01/2031", "violation_code": "21"}, "future_date"),
        ({"summons": "1 2", "issue_date": "01/02/2020", "violation_code": "21"}, "bad_summons"),
    ],
)
def test_a_ticket_that_cannot_be_translated_says_why(values: dict[str, str], reason: str) -> None:
    result = translate(record(**values), NOW)
    assert isinstance(result, Rejected) and result.reason == reason and result.detail


def test_framing_keeps_quoted_commas_and_line_breaks_in_one_record() -> None:
    data = b'h1,h2\r\n1,"a, b"\r\n2,"two\nlines"\r\n3,5"TH AVE\r\n4,last'
    chunks = list(frame(io.BytesIO(data), 0, 0, chunk_records=100))
    texts = [t for c in chunks for t in c.texts]
    rows = list(csv.reader(texts))
    assert rows == [
        ["h1", "h2"],
        ["1", "a, b"],
        ["2", "two\nlines"],
        ["3", '5"TH AVE'],
        ["4", "last"],
    ]
    assert [line for c in chunks for line in c.lines] == [1, 2, 3, 5, 6]
    assert chunks[-1].end_offset == len(data)


def test_a_stray_quote_costs_only_its_own_line() -> None:
    data = b'h\n"broken\n' + b"ok\n" * 30
    texts = [t for c in frame(io.BytesIO(data), 0, 0, chunk_records=7) for t in c.texts]
    assert len(texts) == 32 and texts[-1] == "ok\n"


def write_sample(tmp_path: Path, rows: list[str], name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER_43 + "\r\n" + "\r\n".join(rows) + "\r\n")
    return path


def batches_of(name: str, start: Position | None = None, rows: int = 1000) -> list[Batch]:
    frames = list(produce(name, "t1", start, batch_rows=rows))
    assert not [f for f in frames if isinstance(f, Failed)], frames
    return [f for f in frames if isinstance(f, Batch)]


def many_rows(n: int) -> list[str]:
    return [ROW_43.replace("1457617912", str(1_000_000 + i), 1) for i in range(n)]


def test_resuming_at_a_batch_end_yields_exactly_the_rest(tmp_path: Path) -> None:
    path = write_sample(tmp_path, many_rows(250))
    first = batches_of(str(path), rows=100)
    rest = batches_of(str(path), first[0].end, rows=100)
    assert [i for b in rest for i in b.ids] == [i for b in first[1:] for i in b.ids]
    assert rest[0].rejects == [] and len({i for b in first for i in b.ids}) == 250


def test_gzip_and_zip_files_read_like_the_plain_file(tmp_path: Path) -> None:
    plain = write_sample(tmp_path, many_rows(120))
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    zipped = tmp_path / "t.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.write(plain, "inner.csv")
    expected = [i for b in batches_of(str(plain), rows=50) for i in b.ids]
    for other in (gz, zipped):
        assert [i for b in batches_of(str(other), rows=50) for i in b.ids] == expected
    resumed = batches_of(str(gz), batches_of(str(gz), rows=50)[0].end, rows=50)
    assert [i for b in resumed for i in b.ids] == expected[50:]


def test_rows_that_were_reexported_with_quotes_na_and_row_numbers_translate(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(
        '"","Summons.Number","Plate.ID","Issue.Date","Violation.Code","Violation.Time",'
        '"Violation.County","Violation.Precinct"\n'
        '"1","123","NA","6/5/2021","21","0752A","BX","NA"\n'
        '"2","124","ABC","6/5/2021","21","NA","NA","NA"\n'
    )
    batches = batches_of(str(path))
    assert batches[0].ids == ["t1:nypd-123", "t1:nypd-124"] and batches[0].rejects == []


def test_a_row_with_the_wrong_number_of_fields_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write_sample(tmp_path, [ROW_43, "1,2,3", ""])
    (batch,) = batches_of(str(path))
    assert [(r.line, r.reason, r.raw) for r in batch.rejects] == [(3, "wrong_field_count", "1,2,3")]
    assert batch.blank == 1 and len(batch.ids) == 1


def test_every_sample_file_replays_without_a_crash_and_each_reject_has_a_reason(
    shared_data: Path,
) -> None:
    for path in sorted((shared_data / "nypd").iterdir()):
        if path.suffix not in (".csv", ".json"):
            continue
        frames = list(produce(str(path), "t1", batch_rows=500))
        assert isinstance(frames[0], Started), (path, frames[0])
        batches = [f for f in frames if isinstance(f, Batch)]
        events = sum(len(b.ids) for b in batches)
        rejects = [r for b in batches for r in b.rejects]
        assert events > 0.99 * sum(b.rows for b in batches), path
        assert all(r.reason and r.detail and r.raw for r in rejects), path
        if "fy2022" in path.name:
            assert [r.reason for r in rejects] == ["future_date"]  # the 07/01/2031 row


def test_json_lines_are_accepted_like_the_api_export(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"summons_number": "1", "issue_date": "10/13/2020", "violation": "FIRE HYDRANT"}\n'
        '{"summons_number": "2", "issue_date": "10/13/2020", "violation_code": "21"}\n'
    )
    (batch,) = batches_of(str(path))
    assert batch.ids == ["t1:nypd-1", "t1:nypd-2"]


def test_a_json_export_resumes_after_the_records_already_replayed(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        "[" + ",".join(
            f'{{"summons_number": "{i}", "issue_date": "10/13/2020", "violation_code": "21"}}'
            for i in range(25)
        ) + "]"
    )  # fmt: skip
    first = batches_of(str(path), rows=10)
    rest = batches_of(str(path), first[0].end, rows=10)
    assert [i for b in rest for i in b.ids] == [f"t1:nypd-{i}" for i in range(10, 25)]
