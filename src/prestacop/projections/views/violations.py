"""``violations``: one row per violation, with officers' decisions applied.

``drone_code`` is what the drone (or NYPD history) reported and never changes;
``code`` is the latest decision's corrected code, else the reported one.
Every decision is kept in ``violation_decisions``. A decision and its
violation may be read in either order (they can sit in different streams):
both writes consult the other table, so the result does not depend on it.
A violation the gate sets aside (its image) is never a row (``projections/set_aside``).
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import HUMAN_REVIEW_CODE, OperatorDecisionRecorded, ViolationReported
from prestacop.projections import set_aside
from prestacop.projections.api import LOG_STREAMS, Batch, Projection
from prestacop.projections.sql import all_new, copy_rows

COLUMNS = (
    "tenant",
    "violation_id",
    "drone_id",
    "time",
    "latitude",
    "longitude",
    "location_precision",
    "drone_code",
    "code",
    "plate",
    "plate_state",
    "plate_type",
    "image_id",
    "origin",
    "street",
    "precinct",
    "borough",
    "summons_number",
    "confidence",
    "vehicle_make",
    "vehicle_color",
    "vehicle_body_type",
    "stream",
    "seq",
    "received_at",
    "time_precision",
    "source_file",
    "source_line",
)


# The one violation-status rule: the table computes it from the codes and whether a
# decision was read (``decision_seq``), so no write path can spell it differently.
STATUS = f"""
    CASE WHEN decision_seq IS NULL THEN
        CASE WHEN drone_code = {HUMAN_REVIEW_CODE} THEN 'pending_review' ELSE 'reported' END
    WHEN code IS NULL THEN 'dismissed'
    WHEN code = drone_code THEN 'confirmed'
    ELSE 'corrected' END"""


class Violations(Projection):
    name = "violations"
    version = 3  # v2: ``status`` is a generated column; v3: decisions once, set-aside events
    streams = (*LOG_STREAMS, set_aside.STREAM)
    tables = {
        "violations": f"""
            tenant text NOT NULL, violation_id text NOT NULL, drone_id text NOT NULL,
            time timestamptz NOT NULL, latitude double precision, longitude double precision,
            location_precision text NOT NULL, drone_code int NOT NULL, code int,
            plate text, plate_state text, plate_type text,
            image_id text, origin text NOT NULL, street text, precinct int, borough text,
            summons_number text, confidence double precision, vehicle_make text,
            vehicle_color text, vehicle_body_type text, stream text NOT NULL,
            seq bigint NOT NULL, received_at timestamptz NOT NULL,
            decided_by text, decided_at timestamptz, decision_note text, decision_seq bigint,
            time_precision text NOT NULL DEFAULT 'exact', source_file text, source_line bigint,
            status text NOT NULL GENERATED ALWAYS AS ({STATUS}) STORED,
            PRIMARY KEY (tenant, violation_id)""",
        "violation_decisions": """
            tenant text NOT NULL, violation_id text NOT NULL, seq bigint NOT NULL,
            decision_id text NOT NULL, officer_id text NOT NULL, time timestamptz NOT NULL,
            corrected_code int, note text, PRIMARY KEY (tenant, violation_id, seq),
            UNIQUE (tenant, decision_id)""",
        "violations_set_aside": set_aside.COLUMNS,
    }
    query_indexes = (
        "CREATE INDEX ON violations (tenant, time)",
        "CREATE INDEX ON violations (tenant, plate)",
    )

    def apply(self, batch: Batch, cur: Any) -> None:
        kept, gone = set_aside.set_aside(cur, "violations_set_aside", batch)
        if gone:
            cur.execute(
                "DELETE FROM violations v USING unnest(%s::text[], %s::text[]) AS k(t, id)"
                " WHERE v.tenant = k.t AND v.violation_id = k.id",
                set_aside.columns(gone),
            )
        rows = []
        decisions = []
        for env, e in Batch(kept).of(ViolationReported, OperatorDecisionRecorded):
            if isinstance(e, ViolationReported):
                code = e.violation_code
                rows.append(
                    (
                        env.tenant,
                        e.message_id,
                        e.drone_id,
                        e.time,
                        e.latitude,
                        e.longitude,
                        e.location_precision,
                        code,
                        code,
                        e.plate,
                        e.plate_state,
                        e.plate_type,
                        e.image_id,
                        e.origin,
                        e.street,
                        e.precinct,
                        e.borough,
                        e.summons_number,
                        e.confidence,
                        e.vehicle_make,
                        e.vehicle_color,
                        e.vehicle_body_type,
                        env.stream,
                        env.seq,
                        env.received_at,
                        e.time_precision,
                        e.source_file,
                        e.source_line,
                    )
                )
            elif isinstance(e, OperatorDecisionRecorded):
                decisions.append(
                    (
                        env.tenant,
                        e.alert_id,
                        env.seq,
                        e.message_id,
                        e.officer_id,
                        e.time,
                        e.corrected_code,
                        e.note,
                    )
                )
        if rows:
            self._insert(cur, rows)
        if decisions:
            self._decide(cur, decisions)

    def _insert(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        """COPY straight in (fast); a violation id seen before takes the merging path."""
        if not all_new(cur, "violations", COLUMNS, rows):
            self._merge(cur, rows)
            return
        # Decisions read before their violation (they sit in another stream): found by one
        # probe of the decisions' key per new id (unique: the COPY took them; a join sorted
        # the ids by collation, dearer), then applied to the few found.
        cur.execute(
            "SELECT d.* FROM unnest(%b::text[], %b::text[]) AS k(t, id) CROSS JOIN LATERAL"
            " (SELECT * FROM violation_decisions d WHERE d.tenant = k.t AND d.violation_id = k.id"
            "  ORDER BY d.seq DESC LIMIT 1) d",
            ([r[0] for r in rows], [r[1] for r in rows]),
        )
        if found := cur.fetchall():
            self._update(cur, [(d["tenant"], d["violation_id"], d["seq"], d["decision_id"],
                                d["officer_id"], d["time"], d["corrected_code"], d["note"])
                               for d in found])  # fmt: skip

    def _merge(self, cur: Any, rows: list[tuple[Any, ...]]) -> None:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _violations_in"
            " (LIKE violations INCLUDING DEFAULTS INCLUDING GENERATED) ON COMMIT DELETE ROWS"
        )
        copy_rows(cur, "_violations_in", COLUMNS, rows)
        # Same id twice (a resend outside the de-duplication window): the first one counts.
        kept = [c for c in COLUMNS if c != "code"]
        picked = ", ".join("i." + c for c in kept)
        cur.execute(
            f"INSERT INTO violations ({', '.join(kept)}, code,"
            "  decided_by, decided_at, decision_note, decision_seq)"
            f" SELECT DISTINCT ON (i.tenant, i.violation_id) {picked},"
            "  CASE WHEN d.seq IS NULL THEN i.code ELSE d.corrected_code END,"
            "  d.officer_id, d.time, d.note, d.seq"
            " FROM _violations_in i LEFT JOIN LATERAL (SELECT * FROM violation_decisions d"
            "  WHERE d.tenant = i.tenant AND d.violation_id = i.violation_id"
            "  ORDER BY d.seq DESC LIMIT 1) d ON true"
            " ORDER BY i.tenant, i.violation_id, i.stream, i.seq"
            " ON CONFLICT (tenant, violation_id) DO NOTHING"
        )

    def _decide(self, cur: Any, decisions: list[tuple[Any, ...]]) -> None:
        """Store each decision once by identity (tenant, its message id): a resend outside
        the de-duplication window is neither a second row nor a later decision."""
        first: dict[tuple[str, str], tuple[Any, ...]] = {}
        for d in decisions:
            first.setdefault((d[0], d[3]), d)
        cur.execute(
            "INSERT INTO violation_decisions (tenant, violation_id, seq, decision_id,"
            " officer_id, time, corrected_code, note) SELECT * FROM unnest(%s::text[],"
            " %s::text[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::int[],"
            " %s::text[]) ON CONFLICT DO NOTHING RETURNING tenant, decision_id",
            [list(c) for c in zip(*first.values(), strict=True)],
        )
        fresh = {(r["tenant"], r["decision_id"]) for r in cur.fetchall()}
        latest: dict[tuple[str, str], tuple[Any, ...]] = {}
        for d in first.values():  # in log order: the last new one per violation wins
            if (d[0], d[3]) not in fresh:
                continue
            latest[(d[0], d[1])] = d
        self._update(cur, list(latest.values()))

    def _update(self, cur: Any, decisions: list[tuple[Any, ...]]) -> None:
        """Apply each decision (one per violation) to its violation, unless a later one was."""
        cur.executemany(
            "UPDATE violations SET code = %(code)s, decided_by = %(officer)s,"
            " decided_at = %(time)s, decision_note = %(note)s, decision_seq = %(seq)s"
            " WHERE tenant = %(tenant)s AND violation_id = %(vid)s"
            "  AND (decision_seq IS NULL OR decision_seq < %(seq)s)",
            [
                {"tenant": t, "vid": v, "seq": s, "officer": o, "time": tm, "code": c, "note": n}
                for (t, v, s, _id, o, tm, c, n) in decisions
            ],
        )
