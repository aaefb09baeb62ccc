"""``statistics`` and ``statistics_cube``: violation counts and fines analysts can trust.

* **Local time.** Days, hours, weekdays and months are the force's own
  (``local_time.zone_for``: nypd = America/New_York), and named so (``local_day``).
* **Final codes.** A violation counts under its code after officers' decisions
  (``code``; NULL / ``dismissed`` = no violation), the reported code beside it
  (``reported_code``). A decision moves a violation from one cell to another
  exactly once: each violation's counted cell is kept in ``statistics_violations``,
  and decisions are keyed by their message id (``statistics_decisions``), so a
  redelivered event changes nothing. Decisions may be read before their violation
  (other stream): the violation then starts in its decided cell.
* **Fines of the day.** ``domain.fines.fine_of_day``: the source's own amount when it
  carries one (camera layouts) and the code was not changed, else the schedule in force
  on the local date and at the place; ``fines_from_source`` says how much came from
  sources.
* **Cube.** ``statistics_cube`` has one row per (code, reported code, borough, precinct,
  local day, local hour, plate state, origin): multi-dimension questions without
  scanning ``violations``. ``statistics`` is the same counts in long form, one
  dimension at a time. ``violation_codes`` and ``fine_schedule`` are the reference
  tables, per force (a force's codes and fines are its own): filled from the package's
  data with the force's first violation.
* **Set aside.** A violation the gate sets aside (its image) is never counted, or is
  taken back from its cell when the gate's record comes later (``projections/set_aside``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from importlib.resources import files
from typing import Any

from prestacop.domain.events import OperatorDecisionRecorded, ViolationReported
from prestacop.domain.fines import fine_of_day, schedule
from prestacop.domain.violation_codes import code_table
from prestacop.projections import set_aside
from prestacop.projections.api import LOG_STREAMS, Batch, Projection
from prestacop.projections.local_time import WEEKDAYS, zone_for
from prestacop.projections.sql import add, all_new, copy_rows, upsert

CUBE_KEY = (
    "tenant",
    "code",
    "reported_code",
    "borough",
    "precinct",
    "local_day",
    "local_hour",
    "plate_state",
    "origin",
)
CUBE = {
    "tenant": "text",
    "code": "int",
    "reported_code": "int",
    "borough": "text",
    "precinct": "int",
    "local_day": "date",
    "local_hour": "smallint",
    "plate_state": "text",
    "origin": "text",
    "violations": "bigint",
    "fines": "bigint",
    "fines_from_source": "bigint",
}
LONG = {
    "tenant": "text",
    "dimension": "text",
    "key": "text",
    "violations": "bigint",
    "fines": "bigint",
}
STATE = {
    "tenant": "text",
    "violation_id": "text",
    "reported_code": "int",
    "code": "int",
    "decision_seq": "bigint",
    "borough": "text",
    "precinct": "int",
    "local_day": "date",
    "local_hour": "smallint",
    "plate_state": "text",
    "origin": "text",
    "own_fine": "int",
    "fine": "int",
    "fine_basis": "text",
}
DECISIONS = {
    "tenant": "text",
    "decision_id": "text",
    "violation_id": "text",
    "seq": "bigint",
    "corrected_code": "int",
}
Cell = tuple[Any, ...]
"""A cube key: the values of ``CUBE_KEY``."""


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values(rows: Sequence[Sequence[object]]) -> str:
    return ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)


def _legacy_definitions() -> dict[int, str]:
    text = files("prestacop.data").joinpath("violation_codes_2013.csv").read_text("utf-8")
    return {
        int(r[0]): " ".join(r[1].split())
        for r in csv.reader(io.StringIO(text))
        if r and r[0].strip().isdigit()
    }


def _reference_rows() -> tuple[str, str]:
    """VALUES lists of the code table and the fine schedule (data shipped with the package)."""
    legacy = _legacy_definitions()
    codes: list[tuple[int, str | None, str | None]] = [
        (c.code, c.definition, legacy.get(c.code))
        for c in sorted(code_table().values(), key=lambda c: c.code)
    ]
    codes += [
        (code, None, text) for code, text in sorted(legacy.items()) if code not in code_table()
    ]
    rates = []
    for code, periods in sorted(schedule().items()):
        for i, r in enumerate(periods):
            until = periods[i + 1].valid_from if i + 1 < len(periods) else None
            rates.append(
                (
                    code,
                    r.valid_from.isoformat(),
                    until.isoformat() if until else None,
                    r.manhattan_96th_and_below,
                    r.all_other_areas,
                    r.source,
                )
            )
    return _values(codes), _values(rates)


_CODES, _RATES = _reference_rows()
_SEED = (
    "INSERT INTO violation_codes SELECT t, v.* FROM unnest(%(t)s::text[]) AS t,"
    f" (VALUES {_CODES}) AS v WHERE NOT EXISTS"
    " (SELECT 1 FROM violation_codes c WHERE c.tenant = t)",
    "INSERT INTO fine_schedule SELECT t, v.code, v.valid_from::date, v.valid_until::date,"
    " v.m, v.o, v.source FROM unnest(%(t)s::text[]) AS t,"
    f" (VALUES {_RATES}) AS v(code, valid_from, valid_until, m, o, source) WHERE NOT EXISTS"
    " (SELECT 1 FROM fine_schedule f WHERE f.tenant = t)",
)


_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS _statistics_in"
    " (LIKE statistics_violations) ON COMMIT DELETE ROWS;"
    " CREATE TEMP TABLE IF NOT EXISTS _statistics_cube_in"
    " (LIKE statistics_cube) ON COMMIT DELETE ROWS"
)
"""Both staging tables in one round trip."""


_CUBE_UPSERT = (
    "INSERT INTO statistics_cube AS t SELECT * FROM _statistics_cube_in"
    f" ON CONFLICT ({', '.join(CUBE_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = t.{c} + excluded.{c}" for c in list(CUBE)[-3:])
)
"""Add a batch's cells (staged by COPY) to the stored ones."""


def _long_form(cells: dict[Cell, list[int]], long: dict[tuple[str, str, str], list[int]]) -> None:
    """Add the cells' counts to ``long``, one dimension at a time: summed by the raw value
    first (about one cell per violation), named once per value (a batch has few of each)."""
    raw: defaultdict[tuple[str, int, Any], list[int]] = defaultdict(lambda: [0, 0])
    for cell, (n, fines, _) in cells.items():
        if n or fines:
            tenant = cell[0]
            for i in _DIMENSIONS:
                acc = raw[(tenant, i, cell[i])]
                acc[0] += n
                acc[1] += fines
    for (tenant, i, value), (n, fines) in raw.items():
        for dim, key in _names(i, value):
            acc = long[(tenant, dim, key)]
            acc[0] += n
            acc[1] += fines


_DIMENSIONS = range(1, len(CUBE_KEY))
"""The cube key's positions but the tenant's: each is a dimension of the long form."""


def _names(i: int, value: Any) -> list[tuple[str, str]]:
    """The long form's (dimension, key) of the cube key's ``i``-th value."""
    match CUBE_KEY[i]:
        case "code":
            return [("code", str(value) if value is not None else "dismissed")]
        case "local_day":
            day = value.isoformat()
            return [
                ("local_day", day),
                ("local_weekday", WEEKDAYS[value.weekday()]),
                ("local_month", day[:7]),
            ]
        case "local_hour":
            return [("local_hour", f"{value:02d}" if value is not None else "unknown")]
        case "origin":
            return [("origin", value)]
        case "reported_code":
            return [("reported_code", str(value))]
        case "precinct":
            return [("precinct", str(value) if value is not None else "unknown")]
        case name:  # borough, plate_state
            return [(name, value or "unknown")]


class Statistics(Projection):
    name = "statistics"
    version = 3  # v3: takes back what the gate sets aside
    streams = (*LOG_STREAMS, set_aside.STREAM)
    tables = {
        "statistics": """
            tenant text NOT NULL, dimension text NOT NULL, key text NOT NULL,
            violations bigint NOT NULL, fines bigint NOT NULL,
            PRIMARY KEY (tenant, dimension, key)""",
        "statistics_cube": """
            tenant text NOT NULL, code int, reported_code int NOT NULL, borough text,
            precinct int, local_day date NOT NULL, local_hour smallint, plate_state text,
            origin text NOT NULL, violations bigint NOT NULL, fines bigint NOT NULL,
            fines_from_source bigint NOT NULL,
            UNIQUE NULLS NOT DISTINCT (tenant, code, reported_code, borough, precinct,
                local_day, local_hour, plate_state, origin)""",
        "statistics_violations": """
            tenant text NOT NULL, violation_id text NOT NULL, reported_code int NOT NULL,
            code int, decision_seq bigint, borough text, precinct int, local_day date NOT NULL,
            local_hour smallint, plate_state text, origin text NOT NULL, own_fine int,
            fine int NOT NULL, fine_basis text NOT NULL,
            PRIMARY KEY (tenant, violation_id)""",
        "statistics_decisions": """
            tenant text NOT NULL, decision_id text NOT NULL, violation_id text NOT NULL,
            seq bigint NOT NULL, corrected_code int,
            PRIMARY KEY (tenant, decision_id)""",
        "violation_codes": """
            tenant text NOT NULL, code int NOT NULL, description text, description_2013 text,
            PRIMARY KEY (tenant, code)""",
        "fine_schedule": """
            tenant text NOT NULL, code int NOT NULL, valid_from date NOT NULL,
            valid_until date, manhattan_96th_and_below int, all_other_areas int,
            source text NOT NULL, PRIMARY KEY (tenant, code, valid_from)""",
        "statistics_set_aside": set_aside.COLUMNS,
    }
    indexes = ("CREATE INDEX ON statistics_decisions (tenant, violation_id, seq)",)  # writes'
    query_indexes = ("CREATE INDEX ON statistics_cube (tenant, local_day)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        kept, gone = set_aside.set_aside(cur, "statistics_set_aside", batch)
        seen: dict[tuple[str, str], tuple[Any, ...]] = {}
        decisions = []
        for env, e in Batch(kept).of(ViolationReported, OperatorDecisionRecorded):
            if isinstance(e, ViolationReported):
                key = (env.tenant, e.message_id)
                if key in seen:
                    continue  # a resend: the first one counts
                local = e.time.astimezone(zone_for(env.tenant))
                hour = local.hour if e.time_precision == "exact" else None
                seen[key] = (
                    *key, e.violation_code, e.borough, e.precinct, local.date(), hour,
                    e.plate_state, e.origin, e.fine_usd,
                )  # fmt: skip
            else:
                decisions.append((env.tenant, e.message_id, e.alert_id, env.seq, e.corrected_code))
        if seen:  # each force gets the reference tables with its first violation
            self._seed(cur, sorted({k[0] for k in seen}))
        cells: defaultdict[Cell, list[int]] = defaultdict(lambda: [0, 0, 0])
        long: defaultdict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
        if gone:  # counted, then set aside by the gate: out of its cell, once
            cur.execute(
                "DELETE FROM statistics_violations s USING unnest(%s::text[], %s::text[])"
                " AS k(t, id) WHERE s.tenant = k.t AND s.violation_id = k.id RETURNING s.*",
                set_aside.columns(gone),
            )
            for r in cur.fetchall():
                _count(cells, tuple(r[c] for c in STATE), -1)
        fresh = self._decisions(cur, decisions, long)
        if seen:
            self._violations(cur, list(seen.values()), cells)
        if fresh:
            self._moves(cur, fresh, cells)
        _long_form(cells, long)
        rows = [(*k, *v) for k, v in cells.items() if any(v)]
        if rows:  # about one cell per violation: COPY, then add to the stored cells
            if not seen:  # else ``_violations`` created the staging tables
                cur.execute(_STAGING)
            copy_rows(cur, "_statistics_cube_in", list(CUBE), rows)
            if any(v[0] < 0 for v in cells.values()):
                # A decision took violations out of a cell: an emptied one is deleted, so the
                # view stays equal to a rebuild (which never creates it when it reads the
                # decision first). Found by the upsert itself, deleted by row address (ours,
                # locked): matching the cells' keys (NULLs among them) scanned the cube.
                cur.execute(f"WITH t AS ({_CUBE_UPSERT} RETURNING t.ctid, t.violations)"
                            " SELECT ctid FROM t WHERE violations = 0")  # fmt: skip
                if emptied := [r["ctid"] for r in cur.fetchall()]:
                    cur.execute(
                        "DELETE FROM statistics_cube WHERE ctid = ANY(%s::tid[])", (emptied,)
                    )
            else:
                cur.execute(_CUBE_UPSERT)
        rows = [(*k, *v) for k, v in long.items() if any(v)]
        upsert(
            cur, "statistics", LONG, rows, ("tenant", "dimension", "key"), add(*list(LONG)[-2:]),
            binary=True,
        )  # fmt: skip
        self._drop_emptied(cur, long)

    def _seed(self, cur: Any, tenants: list[str]) -> None:
        """The reference tables of the forces that have none yet (a small question first:
        the seeding statements carry both tables and cost more to parse than to run)."""
        cur.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE NOT EXISTS"
            " (SELECT 1 FROM violation_codes c WHERE c.tenant = t) OR NOT EXISTS"
            " (SELECT 1 FROM fine_schedule f WHERE f.tenant = t)",
            (tenants,),
        )
        missing = [r["t"] for r in cur.fetchall()]
        if missing:
            for statement in _SEED:
                cur.execute(statement, {"t": missing})

    def _drop_emptied(self, cur: Any, long: dict[Any, list[int]]) -> None:
        """A long-form count a decision emptied is deleted, as its cube cell is."""
        keys = [k for k, v in long.items() if v[0] < 0]
        if keys:
            cur.execute(
                "DELETE FROM statistics s USING unnest(%s::text[], %s::text[], %s::text[])"
                " AS k(t, d, key) WHERE s.tenant = k.t AND s.dimension = k.d AND s.key = k.key"
                " AND s.violations = 0",
                [list(col) for col in zip(*keys, strict=True)],
            )

    def _decisions(
        self, cur: Any, decisions: list[tuple[Any, ...]], long: dict[Any, list[int]]
    ) -> dict[tuple[str, str], tuple[int, int | None]]:
        """Store new decisions (a redelivered one is ignored); the latest new one per violation."""
        if not decisions:
            return {}
        cur.execute(
            "INSERT INTO statistics_decisions AS t SELECT * FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::bigint[], %s::int[])"
            " ON CONFLICT DO NOTHING RETURNING tenant, violation_id, seq, corrected_code",
            [list(c) for c in zip(*decisions, strict=True)],
        )
        latest: dict[tuple[str, str], tuple[int, int | None]] = {}
        for r in cur.fetchall():
            tenant, vid, seq, code = r["tenant"], r["violation_id"], r["seq"], r["corrected_code"]
            long[(tenant, "decision", str(code) if code is not None else "dismissed")][0] += 1
            if (tenant, vid) not in latest or latest[(tenant, vid)][0] < seq:
                latest[(tenant, vid)] = (seq, code)
        return latest

    def _violations(self, cur: Any, items: list[tuple[Any, ...]], cells: Any) -> None:
        """Insert new violations in the cell of their latest decision (if read before them)."""
        decided = self._decided_before(cur, items)
        rows = []
        for tenant, vid, reported, borough, precinct, day, hour, state, origin, own in items:
            d = decided.get((tenant, vid))
            code = reported if d is None else d["corrected_code"]
            fine, basis = _fine(code, reported, day, borough, precinct, own)
            rows.append(
                (
                    tenant, vid, reported, code, d["seq"] if d else None, borough, precinct,
                    day, hour, state, origin, own, fine, basis,
                )
            )  # fmt: skip
        cur.execute(_STAGING)
        # COPY straight in (fast); an id seen before: through staging, keeping only new ids.
        if all_new(cur, "statistics_violations", list(STATE), rows):
            there: set[tuple[str, str]] = set()  # the common case: no id sent back
        else:
            copy_rows(cur, "_statistics_in", list(STATE), rows)
            cur.execute(
                "INSERT INTO statistics_violations SELECT * FROM _statistics_in"
                " ON CONFLICT DO NOTHING RETURNING tenant, violation_id"
            )
            inserted = {(r["tenant"], r["violation_id"]) for r in cur.fetchall()}
            there = {(r[0], r[1]) for r in rows} - inserted
        for row in rows:
            if (row[0], row[1]) not in there:
                _count(cells, row, +1)

    def _decided_before(self, cur: Any, items: list[tuple[Any, ...]]) -> dict[Any, Any]:
        """Decisions already stored for these violations (read before them), latest first;
        skipped for forces that have no decision at all (history replays: the common case)."""
        tenants = sorted({i[0] for i in items})
        cur.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE EXISTS"
            " (SELECT 1 FROM statistics_decisions d WHERE d.tenant = t)",
            (tenants,),
        )
        with_decisions = {r["t"] for r in cur.fetchall()}
        items = [i for i in items if i[0] in with_decisions]
        if not items:
            return {}
        cur.execute(  # one index probe per id (a join sorted the ids by collation: dearer)
            "SELECT d.tenant, d.violation_id, d.seq, d.corrected_code"
            " FROM unnest(%b::text[], %b::text[]) AS k(t, id) CROSS JOIN LATERAL"
            " (SELECT * FROM statistics_decisions d WHERE d.tenant = k.t AND d.violation_id = k.id"
            "  ORDER BY d.seq DESC LIMIT 1) d",
            ([i[0] for i in items], [i[1] for i in items]),
        )
        return {(r["tenant"], r["violation_id"]): r for r in cur.fetchall()}

    def _moves(
        self, cur: Any, fresh: dict[tuple[str, str], tuple[int, int | None]], cells: Any
    ) -> None:
        """Move each decided violation from its counted cell to its new one, once."""
        keys = list(fresh)
        cur.execute(
            "SELECT s.* FROM statistics_violations s"
            " JOIN unnest(%s::text[], %s::text[], %s::bigint[]) AS k(t, id, seq)"
            " ON s.tenant = k.t AND s.violation_id = k.id"
            " WHERE s.decision_seq IS NULL OR s.decision_seq < k.seq FOR UPDATE OF s",
            ([k[0] for k in keys], [k[1] for k in keys], [fresh[k][0] for k in keys]),
        )
        updates = []
        for r in cur.fetchall():
            old = tuple(r[c] for c in STATE)
            seq, code = fresh[(r["tenant"], r["violation_id"])]
            fine, basis = _fine(
                code, r["reported_code"], r["local_day"], r["borough"], r["precinct"], r["own_fine"]
            )
            new = (*old[:3], code, seq, *old[5:12], fine, basis)
            _count(cells, old, -1)
            _count(cells, new, +1)
            updates.append((r["tenant"], r["violation_id"], code, seq, fine, basis))
        if updates:
            cur.execute(
                "UPDATE statistics_violations s SET code = u.code, decision_seq = u.seq,"
                " fine = u.fine, fine_basis = u.basis FROM unnest(%s::text[], %s::text[],"
                " %s::int[], %s::bigint[], %s::int[], %s::text[])"
                " AS u(t, id, code, seq, fine, basis)"
                " WHERE s.tenant = u.t AND s.violation_id = u.id",
                [list(c) for c in zip(*updates, strict=True)],
            )


def _fine(
    code: int | None,
    reported: int,
    day: date,
    borough: str | None,
    precinct: int | None,
    own: int | None,
) -> tuple[int, str]:
    """The source's amount was charged for the reported code: a corrected code uses the schedule."""
    return fine_of_day(code, day, borough, precinct, own if code == reported else None)


def _count(cells: Any, state: tuple[Any, ...], sign: int) -> None:
    """Add (``sign`` = 1) or take back (-1) one violation, given as a ``STATE`` row."""
    (tenant, _vid, reported, code, _seq, borough, precinct, day, hour, plate_state, origin,
     _own, fine, basis) = state  # fmt: skip
    acc = cells[(tenant, code, reported, borough, precinct, day, hour, plate_state, origin)]
    acc[0] += sign
    acc[1] += sign * fine
    acc[2] += sign * fine if basis == "source" else 0
