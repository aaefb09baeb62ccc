"""Which column means what: a header is understood by meaning, not by exact spelling.

NYC's files name the same thing ``Summons Number``, ``summons_number`` or
``Summons.Number``, with odd spacing (``Days Parking In Effect    ``), and tools
add a row-number column. Names are compared as lower-case letters and digits
only; each field of a ticket has the few names it goes by.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The ticket fields the translator reads, in the order of a parsed record.
FIELDS = (
    "summons",
    "plate",
    "state",
    "plate_type",
    "issue_date",
    "violation_code",
    "violation_description",
    "violation_time",
    "precinct",
    "county",
    "make",
    "body_type",
    "color",
    "house_number",
    "street",
    "fine_amount",
)
F = {name: i for i, name in enumerate(FIELDS)}

_NAMES: dict[str, tuple[str, ...]] = {
    "summons": ("summonsnumber", "summonsno", "summons", "ticketnumber"),
    "plate": ("plateid", "plate", "platenumber"),
    "state": ("registrationstate", "state", "platestate"),
    "plate_type": ("platetype", "licensetype"),
    "issue_date": ("issuedate",),
    "violation_code": ("violationcode",),
    "violation_description": ("violationdescription", "violation"),
    "violation_time": ("violationtime",),
    "precinct": ("violationprecinct", "precinct"),
    "county": ("violationcounty", "county"),
    "make": ("vehiclemake",),
    "body_type": ("vehiclebodytype",),
    "color": ("vehiclecolor",),
    "house_number": ("housenumber",),
    "street": ("streetname",),
    "fine_amount": ("fineamount",),
}

#: Columns of NYC's layouts that carry nothing the event needs (kept out on purpose).
_IGNORED = frozenset(
    """issuingagency streetcode1 streetcode2 streetcode3 vehicleexpirationdate
    violationlocation issuerprecinct issuercode issuercommand issuersquad
    timefirstobserved violationinfrontoforopposite intersectingstreet
    datefirstobserved lawsection subdivision violationlegalcode daysparkingineffect
    fromhoursineffect tohoursineffect unregisteredvehicle vehicleyear meternumber
    feetfromcurb violationpostcode nostandingorstoppingviolation hydrantviolation
    doubleparkingviolation latitude longitude communityboard communitycouncil
    censustract bin bbl nta penaltyamount interestamount reductionamount
    paymentamount amountdue summonsimage violationstatus judgmententrydate""".split()
)
#: Names tools give to a row-number column they add.
_ROW_NUMBER = frozenset({"", "unnamed0", "x", "index", "rownames", "rownumber", "row"})

_LOOKUP = {alias: field for field, aliases in _NAMES.items() for alias in aliases}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize(name: str) -> str:
    """``Days Parking In Effect    `` → ``daysparkingineffect``; ``Summons.Number`` likewise."""
    return _NON_ALNUM.sub("", name.lower())


class UnknownLayout(ValueError):
    """A header this program does not understand; names the columns at fault."""


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    width: int
    """Number of columns in the header: a row with another count is rejected."""
    columns: tuple[int, ...]
    """For each of ``FIELDS``, the column holding it, or ``width`` (a blank pad) if absent."""
    ignored: tuple[str, ...]


def _name(found: set[str], width: int) -> str:
    if "fineamount" in found or "summonsimage" in found:
        return "Open Parking and Camera Violations"
    if {"latitude", "communityboard"} <= found:
        return f"Parking Violations Issued, FY2014-2016 ({width} columns)"
    if "daysparkingineffect" in found:
        return f"Parking Violations Issued, FY2017+ ({width} columns)"
    return f"extract ({width} columns)"


def detect(header: Sequence[str], *, strict: bool = True) -> Layout:
    """The layout of a header; ``UnknownLayout`` if a needed field or a column is not understood."""
    width = len(header)
    columns = [width] * len(FIELDS)
    unknown: list[str] = []
    ignored: list[str] = []
    found: set[str] = set()
    for i, raw in enumerate(header):
        key = normalize(raw.strip().strip('"'))
        found.add(key)
        field = _LOOKUP.get(key)
        if field is not None and columns[F[field]] == width:
            columns[F[field]] = i
        elif key in _IGNORED or (i == 0 and key in _ROW_NUMBER):
            ignored.append(raw)
        else:
            unknown.append(raw)
    missing = [f for f in ("summons", "issue_date") if columns[F[f]] == width]
    if columns[F["violation_code"]] == width and columns[F["violation_description"]] == width:
        missing.append("violation_code")
    if missing or (unknown and strict):
        problems = []
        if missing:
            problems.append("no column for " + ", ".join(missing))
        if unknown:
            problems.append("columns not understood: " + ", ".join(repr(u) for u in unknown))
        raise UnknownLayout(
            "; ".join(problems)
            + f" (header has {width} columns: "
            + ", ".join(repr(h) for h in header[:60])
            + ")"
        )
    return Layout(_name(found, width), width, tuple(columns), tuple(ignored + unknown))


def record_from_mapping(obj: dict[str, object], *, strict: bool = True) -> list[str]:
    """A JSON record (Open Data API export) as a list in the order of ``FIELDS``."""
    record = [""] * len(FIELDS)
    unknown = []
    for key, value in obj.items():
        norm = normalize(key)
        field = _LOOKUP.get(norm)
        if field is not None:
            record[F[field]] = value if isinstance(value, str) else str(value)
        elif norm not in _IGNORED and strict:
            unknown.append(key)
    if unknown:
        raise UnknownLayout("keys not understood: " + ", ".join(repr(k) for k in unknown))
    return record


def unwrap(text: str, width: int) -> list[str] | None:
    """The fields of a record that a tool quoted whole (``"a,b,""c d"",e"``), if unwrapping
    it gives exactly ``width`` fields; else None (the record stays rejected)."""
    body = text.strip()
    if len(body) < 2 or body[0] != '"' or body[-1] != '"':
        return None
    try:
        row = next(csv.reader([body[1:-1].replace('""', '"')]))
    except (csv.Error, StopIteration):
        return None
    return row if len(row) == width else None
