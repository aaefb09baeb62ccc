"""``statistics``: violation counts and fines by day, hour of day, weekday, code,
borough, precinct, plate state and origin, and decisions by outcome.

Long form, one row per (tenant, dimension, key): a new dimension is a new key,
not a new column. Counts are of violations as reported (``violations`` holds
the per-violation code after decisions); times are in UTC. The fine is the code
table's Manhattan-below-96th one for Manhattan precincts under 23, else the
one for all other areas; codes without a fine add nothing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prestacop.domain.events import OperatorDecisionRecorded, ViolationReported
from prestacop.domain.violation_codes import code_table
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import SEEN_COLUMNS, unseen, upsert

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COLUMNS = {
    "tenant": "text",
    "dimension": "text",
    "key": "text",
    "violations": "bigint",
    "fines": "bigint",
}


def fine(code: int, borough: str | None, precinct: int | None) -> int:
    info = code_table().get(code)
    if info is None:
        return 0
    below_96th = (borough or "").strip().lower() in ("manhattan", "mn", "ny") and (
        precinct is not None and 0 < precinct < 23
    )
    amount = info.fine_manhattan_below_96th if below_96th else info.fine_elsewhere
    return amount or 0


class Statistics(Projection):
    name = "statistics"
    version = 2  # v2: counts each event once by identity (statistics_seen)
    tables = {
        "statistics": """
            tenant text NOT NULL, dimension text NOT NULL, key text NOT NULL,
            violations bigint NOT NULL, fines bigint NOT NULL,
            PRIMARY KEY (tenant, dimension, key)""",
        "statistics_seen": SEEN_COLUMNS,
    }

    def apply(self, batch: Batch, cur: Any) -> None:
        acc: defaultdict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        counted = unseen(cur, "statistics_seen", batch, ViolationReported, OperatorDecisionRecorded)
        for env in counted:
            e = env.event
            t = env.tenant
            if isinstance(e, ViolationReported):
                amount = fine(e.violation_code, e.borough, e.precinct)
                time = e.time
                for dim, key in (
                    ("day", time.date().isoformat()),
                    ("hour", f"{time.hour:02d}"),
                    ("weekday", WEEKDAYS[time.weekday()]),
                    ("code", str(e.violation_code)),
                    ("borough", e.borough or "unknown"),
                    ("precinct", str(e.precinct) if e.precinct is not None else "unknown"),
                    ("plate_state", e.plate_state or "unknown"),
                    ("origin", e.origin),
                ):
                    cell = acc[(t, dim, key)]
                    cell[0] += 1
                    cell[1] += amount
            elif isinstance(e, OperatorDecisionRecorded):
                outcome = "dismissed" if e.corrected_code is None else str(e.corrected_code)
                acc[(t, "decision", outcome)][0] += 1
        rows = [(*k, v[0], v[1]) for k, v in acc.items()]
        upsert(
            cur,
            "statistics",
            COLUMNS,
            rows,
            ("tenant", "dimension", "key"),
            {
                "violations": "t.violations + excluded.violations",
                "fines": "t.fines + excluded.fines",
            },
        )
