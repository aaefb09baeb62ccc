"""NYC parking violation codes (1-99) and their fines, shipped with the package as data."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from prestacop.domain.events import HUMAN_REVIEW_CODE


@dataclass(frozen=True, slots=True)
class ViolationCodeInfo:
    code: int
    definition: str
    fine_manhattan_below_96th: int | None
    fine_elsewhere: int | None


HUMAN_REVIEW = ViolationCodeInfo(HUMAN_REVIEW_CODE, "NEEDS HUMAN REVIEW", None, None)


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def parse_code_table(text: str) -> dict[int, ViolationCodeInfo]:
    """Parse the DOF code table (CODE, DEFINITION, Manhattan fine, elsewhere fine)."""
    rows = csv.reader(io.StringIO(text))
    next(rows)  # header; its Manhattan column name holds a non-breaking space
    table: dict[int, ViolationCodeInfo] = {}
    for row in rows:
        if row and row[0].strip().isdigit():
            code = int(row[0])
            table[code] = ViolationCodeInfo(
                code, row[1].strip(), _int_or_none(row[2]), _int_or_none(row[3])
            )
    return table


@cache
def code_table() -> dict[int, ViolationCodeInfo]:
    """The codes a violation may carry: the NYC table plus 0, 'needs human review'."""
    text = files("prestacop.data").joinpath("violation_codes.csv").read_text(encoding="utf-8")
    table = parse_code_table(text)
    table[HUMAN_REVIEW_CODE] = HUMAN_REVIEW
    return table


def is_known(code: int) -> bool:
    return code in code_table()


def search(query: str) -> list[ViolationCodeInfo]:
    """Codes whose number or words match ``query`` (for the officers' picker)."""
    query = query.strip().upper()
    codes = [c for c in code_table().values() if c.code != HUMAN_REVIEW_CODE]
    if not query:
        return codes
    if query.isdigit():
        return [c for c in codes if str(c.code).startswith(query)]
    words = query.split()
    return [c for c in codes if all(w in c.definition for w in words)]
