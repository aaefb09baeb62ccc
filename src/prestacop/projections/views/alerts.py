"""``alerts``: human-review violations and their life (open, claimed by whom,
control taken, resolved how and when), and ``alert_events``, every step of it.

All of an alert's events sit in one stream (PRESTACOP_ALERTS), so they arrive in
log order. A batch loads the rows of the alerts it touches, moves them on with
the pure ``evolve`` below, and writes them back in one upsert. A review the gate
sets aside (its image) is no alert (``projections/set_aside``): taken back, its row
keeps only what officers did on it, as a rebuild that never read it would.
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.alerts import transition
from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AlertReleased,
    DroneControlTaken,
    OperatorDecisionRecorded,
    ViolationReported,
)
from prestacop.domain.events import (
    AlertEvent as AlertLifeEvent,
)
from prestacop.domain.subjects import ALERTS
from prestacop.projections import set_aside
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import SEEN_COLUMNS, copy_rows, unseen, upsert

COLUMNS = {
    "tenant": "text",
    "alert_id": "text",
    "drone_id": "text",
    "is_review": "boolean",
    "opened_at": "timestamptz",
    "latitude": "float8",
    "longitude": "float8",
    "image_id": "text",
    "plate": "text",
    "confidence": "float8",
    "status": "text",
    "claimed_by": "text",
    "claimed_at": "timestamptz",
    "released_at": "timestamptz",
    "control_by": "text",
    "control_at": "timestamptz",
    "control_succeeded": "boolean",
    "decided_by": "text",
    "decided_at": "timestamptz",
    "corrected_code": "int",
    "dismissed": "boolean",
    "note": "text",
    "seq": "bigint",
    "steps": "int",
}
_EVENT_COLUMNS = (
    "tenant",
    "alert_id",
    "seq",
    "step",
    "officer_id",
    "time",
    "corrected_code",
    "succeeded",
    "note",
)
_STEP: dict[type[Any], str] = {
    AlertClaimed: "claimed",
    AlertReleased: "released",
    DroneControlTaken: "control_taken",
    OperatorDecisionRecorded: "decided",
}
AlertEvent = ViolationReported | AlertLifeEvent


def new_alert(tenant: str, alert_id: str, drone_id: str, seq: int) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        tenant=tenant,
        alert_id=alert_id,
        drone_id=drone_id,
        is_review=False,
        status="open",
        seq=seq,
        steps=0,
    )
    return row


def evolve(row: dict[str, Any], e: AlertEvent, seq: int) -> None:
    """Move an alert's row on by one event (pure: no I/O, no clock).

    Status and holder follow the domain's one rule (``domain.alerts.transition``), so
    this view and the officers' console never disagree; the other columns are facts.
    """
    if isinstance(e, ViolationReported):
        row.update(
            is_review=True,
            opened_at=e.time,
            latitude=e.latitude,
            longitude=e.longitude,
            image_id=e.image_id,
            plate=e.plate,
            confidence=e.confidence,
            seq=min(row["seq"], seq),
        )
        return
    row["steps"] += 1
    row["status"], row["claimed_by"] = transition(row["status"], row["claimed_by"], e)
    if isinstance(e, AlertClaimed):
        row["claimed_at"] = e.time
    elif isinstance(e, AlertReleased):
        row["released_at"] = e.time
    elif isinstance(e, DroneControlTaken):
        row.update(control_by=e.officer_id, control_at=e.time, control_succeeded=e.succeeded)
    else:
        row.update(
            decided_by=e.officer_id,
            decided_at=e.time,
            corrected_code=e.corrected_code,
            dismissed=e.corrected_code is None,
            note=e.note,
        )


class Alerts(Projection):
    name = "alerts"
    version = 3  # v2: each event applied once by identity (alerts_seen); v3: set-aside reviews
    streams = (ALERTS.name, set_aside.STREAM)
    tables = {
        "alerts": """
            tenant text NOT NULL, alert_id text NOT NULL, drone_id text NOT NULL,
            is_review boolean NOT NULL DEFAULT false, opened_at timestamptz,
            latitude double precision, longitude double precision, image_id text,
            plate text, confidence double precision, status text NOT NULL,
            claimed_by text, claimed_at timestamptz, released_at timestamptz,
            control_by text, control_at timestamptz, control_succeeded boolean,
            decided_by text, decided_at timestamptz, corrected_code int, dismissed boolean,
            note text, seq bigint NOT NULL, steps int NOT NULL,
            PRIMARY KEY (tenant, alert_id)""",
        "alert_events": """
            tenant text NOT NULL, alert_id text NOT NULL, seq bigint NOT NULL,
            step text NOT NULL, officer_id text, time timestamptz NOT NULL,
            corrected_code int, succeeded boolean, note text,
            PRIMARY KEY (tenant, alert_id, seq)""",
        "alerts_seen": SEEN_COLUMNS,
        "alerts_set_aside": set_aside.COLUMNS,
    }
    query_indexes = ("CREATE INDEX ON alerts (tenant, status, opened_at)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        kept, gone = set_aside.set_aside(cur, "alerts_set_aside", batch)
        if gone:
            self._take_back(cur, gone)
        steps: list[tuple[Any, Any]] = []
        for env, e in Batch(unseen(cur, "alerts_seen", kept, ViolationReported, *_STEP)).of(
            ViolationReported, *_STEP
        ):
            if isinstance(e, ViolationReported) and e.violation_code != HUMAN_REVIEW_CODE:
                continue
            steps.append((env, e))
        if not steps:
            return
        keys = {(env.tenant, _alert_id(e)) for env, e in steps}
        rows = {
            (r["tenant"], r["alert_id"]): r
            for r in cur.execute(
                "SELECT a.* FROM alerts a JOIN unnest(%s::text[], %s::text[]) AS k(t, id)"
                " ON a.tenant = k.t AND a.alert_id = k.id",
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
        }
        history = []
        for env, e in steps:
            key = (env.tenant, _alert_id(e))
            row = rows.get(key)
            if row is None:
                row = rows[key] = new_alert(env.tenant, key[1], e.drone_id, env.seq)
            evolve(row, e, env.seq)
            if not isinstance(e, ViolationReported):
                history.append(
                    (
                        env.tenant,
                        key[1],
                        env.seq,
                        _STEP[type(e)],
                        e.officer_id,
                        e.time,
                        getattr(e, "corrected_code", None),
                        getattr(e, "succeeded", None),
                        getattr(e, "note", None) or getattr(e, "detail", None),
                    )
                )
        names = list(COLUMNS)
        upsert(
            cur,
            "alerts",
            COLUMNS,
            [tuple(r[c] for c in names) for r in rows.values()],
            ("tenant", "alert_id"),
            {c: f"excluded.{c}" for c in names[2:]},
        )
        if history:
            copy_rows(cur, "alert_events", _EVENT_COLUMNS, history)

    def _take_back(self, cur: Any, gone: list[set_aside.Identity]) -> None:
        """Reviews set aside after they were read: an alert no officer touched goes, one
        they did keeps their steps only (its first position is its first step's)."""
        keys = set_aside.columns(gone)
        cur.execute(
            "DELETE FROM alerts a USING unnest(%s::text[], %s::text[]) AS k(t, id)"
            " WHERE a.tenant = k.t AND a.alert_id = k.id AND a.is_review AND NOT EXISTS"
            " (SELECT 1 FROM alert_events e WHERE e.tenant = a.tenant AND e.alert_id = a.alert_id)",
            keys,
        )
        cur.execute(
            "UPDATE alerts a SET is_review = false, opened_at = NULL, latitude = NULL,"
            " longitude = NULL, image_id = NULL, plate = NULL, confidence = NULL,"
            " seq = (SELECT min(e.seq) FROM alert_events e"
            "  WHERE e.tenant = a.tenant AND e.alert_id = a.alert_id)"
            " FROM unnest(%s::text[], %s::text[]) AS k(t, id)"
            " WHERE a.tenant = k.t AND a.alert_id = k.id AND a.is_review",
            keys,
        )


def _alert_id(e: Any) -> str:
    return e.message_id if isinstance(e, ViolationReported) else e.alert_id
