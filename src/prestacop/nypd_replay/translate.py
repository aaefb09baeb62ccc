"""One ticket → one ``ViolationReported`` from NYPD history, or the reason it cannot be.

Pure: the current time is passed in (to refuse tickets dated in the future), and
nothing here reads or writes. The message id is derived from the summons number,
so a ticket replayed twice is the same event.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from typing import NamedTuple

from prestacop.domain.events import TimePrecision, ViolationReported
from prestacop.domain.violation_codes import code_table, is_known
from prestacop.nypd_replay.layout import F
from prestacop.nypd_replay.nyc_time import BadDate, BadTime, parse_time, utc_hours
from prestacop.nypd_replay.places import Place, locate

_SUMMONS = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_BLANKS = frozenset(
    {"", "NA", "N/A", "na", "n/a", "NULL", "null", "NONE", "None", "BLANKPLATE", "BLANK"}
)
#: Descriptions seen in the camera data set that differ from the code table's wording.
_DESCRIPTION_ALIASES = {"UNALTERED COMM VEHICLE": 88}
#: Where a 2013 definition's short name ends (``Feeding Meter -- parking in ...``).
_LEGACY_NAME_END = re.compile(r" -- |:|\(")

(SUMMONS, PLATE, STATE, PLATE_TYPE, ISSUE_DATE, CODE, DESCRIPTION, TIME, PRECINCT, COUNTY,
 MAKE, BODY, COLOR, HOUSE, STREET, FINE) = (F[name] for name in (
    "summons", "plate", "state", "plate_type", "issue_date", "violation_code",
    "violation_description", "violation_time", "precinct", "county", "make", "body_type",
    "color", "house_number", "street", "fine_amount"))  # fmt: skip


class Provenance(NamedTuple):
    """The source file of a replay: its name and content identity (``source.identity``)."""

    file: str
    id: str | None


class Rejected(NamedTuple):
    """Why a ticket was not translated: a short reason code and the detail."""

    reason: str
    detail: str


def message_id(summons: str) -> str:
    return f"nypd-{summons}"


def _words(text: str) -> str:
    return " ".join(text.upper().split())


def legacy_descriptions() -> dict[str, int]:
    """Descriptions of the 2013 code table (older files' wording): each full definition,
    and its short name (``FEEDING METER``) when no other code shares it."""
    text = files("prestacop.data").joinpath("violation_codes_2013.csv").read_text("utf-8")
    rows = [r for r in csv.reader(io.StringIO(text)) if r and r[0].strip().isdigit()]
    table: dict[str, int] = {}
    names: dict[str, set[int]] = {}
    for row in rows:
        code = int(row[0])
        table[_words(row[1])] = code
        names.setdefault(_words(_LEGACY_NAME_END.split(row[1])[0]), set()).add(code)
    table.update({name: codes.pop() for name, codes in names.items() if len(codes) == 1})
    return table


def _description_codes() -> dict[str, int]:
    table = legacy_descriptions()
    table.update({_words(c.definition): c.code for c in code_table().values()})
    table.update(_DESCRIPTION_ALIASES)
    return table


_BY_DESCRIPTION: dict[str, int] = {}


def violation_code(code: str, description: str) -> int | Rejected:
    """The code column if there is one, else the description (camera data set)."""
    code = code.strip()
    if code:
        if not code.isdigit():
            return Rejected("bad_code", f"violation code {code!r} is not a number")
        number = int(code)
        if number == 0 or not is_known(number):
            return Rejected("unknown_code", f"violation code {number} is not an NYC code")
        return number
    if not _BY_DESCRIPTION:
        _BY_DESCRIPTION.update(_description_codes())
    text = _words(description)
    if not text:
        return Rejected("no_violation", "no violation code and no violation description")
    found = _BY_DESCRIPTION.get(text)
    if found is None:
        return Rejected("unknown_code", f"violation {description!r} matches no NYC code")
    return found


def _opt(value: str, limit: int) -> str | None:
    """A text field, or None if blank or a placeholder.

    Cut at ``limit`` only to bound garbage: the event's own limits are tighter,
    so an over-long value is rejected by validation with the field's name.
    """
    value = value.strip()
    if value in _BLANKS:
        return None
    if "\xa0" in value or "  " in value:  # spreadsheet damage: non-breaking spaces
        value = " ".join(value.replace("\xa0", " ").split())
        if value in _BLANKS:
            return None
    return value[:limit]


def _street(house: str, street: str) -> str | None:
    street = " ".join(street.split())
    if not street or street.upper() in _BLANKS:
        return None
    house = house.strip()
    text = f"{house} {street}" if house and house.upper() not in _BLANKS else street
    return text[:128]


def _fine(text: str) -> int | None:
    """The source's own fine (camera layouts): whole dollars, or None if absent."""
    text = text.strip()
    if not text:
        return None
    try:
        amount = round(float(text))
    except ValueError:
        return None
    return amount if 0 <= amount <= 100_000 else None


#: Entries kept per field by the memos below: NYC's codes, states, makes, colours, places
#: and clock readings fit; a file of garbage only evicts, memory stays bounded.
_MEMO = 4096


@lru_cache(maxsize=_MEMO)
def _code(code: str, description: str) -> int | Rejected:
    return violation_code(code, description)


@lru_cache(maxsize=_MEMO)
def _place(precinct: str, county: str) -> tuple[Place, int | None]:
    """The place, and the precinct number the event carries (1-999, else None)."""
    number = precinct.strip()
    valid = number.isdigit() and 0 < int(number) <= 999
    return locate(precinct, county), int(number) if valid else None


@lru_cache(maxsize=_MEMO)
def _clock(text: str) -> tuple[int, timedelta, TimePrecision]:
    """Local hour, time since midnight and precision of a violation time (blank or
    unreadable: midnight, ``day``)."""
    clock = text.strip()
    try:
        if clock in _BLANKS:
            raise BadTime(clock)
        since = parse_time(clock)
    except BadTime:
        return 0, timedelta(0), "day"
    return since.seconds // 3600, since, "exact"


@lru_cache(maxsize=_MEMO)
def _state(text: str) -> str | None:
    return None if text.strip() == "99" else _opt(text, 8)


@lru_cache(maxsize=_MEMO)
def _text(text: str, limit: int) -> str | None:
    """``_opt`` of a field with few distinct values (plate type, make, colour, body)."""
    return _opt(text, limit)


def translate(
    record: Sequence[str],
    now: datetime,
    provenance: Provenance | None = None,
    line: int | None = None,
) -> ViolationReported | Rejected:
    """A parsed ticket (fields in the order of ``layout.FIELDS``) as a history event.

    A blank or unreadable time keeps the ticket on its date (``time_precision="day"``,
    local midnight): the date is what statistics need, and inventing a time is worse.
    Fields with few distinct values go through bounded memos (a third of this
    function's cost, issue 13).
    """
    summons = record[SUMMONS].strip()
    if not summons or summons.upper() in ("NA", "N/A"):
        return Rejected("blank_summons", "the summons number is blank")
    if not _SUMMONS.match(summons):
        return Rejected("bad_summons", f"summons number {summons!r} has characters not allowed")
    code = _code(record[CODE], record[DESCRIPTION])
    if isinstance(code, Rejected):
        return code
    try:
        hours = utc_hours(record[ISSUE_DATE])
    except BadDate as err:
        return Rejected("bad_date", str(err))
    hour, since, precision = _clock(record[TIME])
    when = hours[hour] + since
    if when > now:
        return Rejected(
            "future_date",
            f"issue date {record[ISSUE_DATE]!r} {record[TIME]!r} is after now"
            f" ({now:%Y-%m-%d %H:%M} UTC)",
        )
    place, precinct = _place(record[PRECINCT], record[COUNTY])
    plate = _opt(record[PLATE], 64)
    return ViolationReported(
        message_id=message_id(summons),
        drone_id=place.drone_id,
        time=when,
        latitude=place.latitude,
        longitude=place.longitude,
        violation_code=code,
        plate=plate.replace(" ", "") if plate else None,
        plate_state=_state(record[STATE]),
        plate_type=_text(record[PLATE_TYPE], 16),
        vehicle_make=_text(record[MAKE], 64),
        vehicle_color=_text(record[COLOR], 64),
        vehicle_body_type=_text(record[BODY], 64),
        street=_street(record[HOUSE], record[STREET]),
        precinct=precinct,
        borough=place.borough,
        location_precision=place.precision,
        origin="nypd_history",
        summons_number=summons,
        time_precision=precision,
        fine_usd=_fine(record[FINE]),
        source_file=provenance.file if provenance else None,
        source_id=provenance.id if provenance else None,
        source_line=line,
    )
