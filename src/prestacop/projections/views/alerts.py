"""``alerts``: human-review violations and their life (open, claimed by whom,
control taken, resolved how and when), and ``alert_events``, every step of it.

All of an alert's events sit in one stream (PRESTACOP_ALERTS), so they are read
in log order; each step is an upsert that only moves an unresolved alert on.
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AlertReleased,
    DroneControlTaken,
    OperatorDecisionRecorded,
    ViolationReported,
)
from prestacop.domain.subjects import ALERTS
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import copy_rows

_STEP = {
    AlertClaimed: "claimed",
    AlertReleased: "released",
    DroneControlTaken: "control_taken",
    OperatorDecisionRecorded: "decided",
}
_OPEN = (
    "INSERT INTO alerts AS a (tenant, alert_id, drone_id, status, seq, steps)"
    " VALUES (%(tenant)s, %(alert)s, %(drone)s, 'open', %(seq)s, 0)"
    " ON CONFLICT (tenant, alert_id) DO NOTHING"
)
_SQL = {
    "review": (
        "UPDATE alerts SET opened_at = %(time)s, latitude = %(lat)s, longitude = %(lon)s,"
        " image_id = %(image)s, plate = %(plate)s, confidence = %(confidence)s,"
        " seq = least(seq, %(seq)s), is_review = true"
        " WHERE tenant = %(tenant)s AND alert_id = %(alert)s"
    ),
    "claimed": (
        "UPDATE alerts SET status = CASE WHEN status = 'resolved' THEN status ELSE 'claimed' END,"
        " claimed_by = %(officer)s, claimed_at = %(time)s, steps = steps + 1"
        " WHERE tenant = %(tenant)s AND alert_id = %(alert)s"
    ),
    "released": (
        "UPDATE alerts SET status = CASE WHEN status = 'resolved' THEN status ELSE 'open' END,"
        " claimed_by = CASE WHEN status = 'resolved' THEN claimed_by ELSE NULL END,"
        " released_at = %(time)s, steps = steps + 1"
        " WHERE tenant = %(tenant)s AND alert_id = %(alert)s"
    ),
    "control_taken": (
        "UPDATE alerts SET control_by = %(officer)s, control_at = %(time)s,"
        " control_succeeded = %(succeeded)s, steps = steps + 1"
        " WHERE tenant = %(tenant)s AND alert_id = %(alert)s"
    ),
    "decided": (
        "UPDATE alerts SET status = 'resolved', decided_by = %(officer)s, decided_at = %(time)s,"
        " corrected_code = %(code)s, dismissed = %(code)s::int IS NULL, note = %(note)s,"
        " steps = steps + 1 WHERE tenant = %(tenant)s AND alert_id = %(alert)s"
    ),
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


class Alerts(Projection):
    name = "alerts"
    version = 1
    streams = (ALERTS.name,)
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
    }
    indexes = ("CREATE INDEX ON alerts (tenant, status, opened_at)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        opens: list[dict[str, Any]] = []
        steps: list[tuple[str, dict[str, Any]]] = []
        history = []
        for env, e in batch.of(ViolationReported, *_STEP):
            if isinstance(e, ViolationReported):
                if e.violation_code != HUMAN_REVIEW_CODE:
                    continue
                p = {
                    "tenant": env.tenant,
                    "alert": e.message_id,
                    "drone": e.drone_id,
                    "seq": env.seq,
                    "time": e.time,
                    "lat": e.latitude,
                    "lon": e.longitude,
                    "image": e.image_id,
                    "plate": e.plate,
                    "confidence": e.confidence,
                }
                opens.append(p)
                steps.append(("review", p))
                continue
            step = _STEP[type(e)]
            p = {
                "tenant": env.tenant,
                "alert": e.alert_id,
                "drone": e.drone_id,
                "seq": env.seq,
                "officer": e.officer_id,
                "time": e.time,
                "code": getattr(e, "corrected_code", None),
                "succeeded": getattr(e, "succeeded", None),
                "note": getattr(e, "note", None) or getattr(e, "detail", None),
            }
            opens.append(p)
            steps.append((step, p))
            history.append(
                (
                    env.tenant,
                    e.alert_id,
                    env.seq,
                    step,
                    e.officer_id,
                    e.time,
                    p["code"],
                    p["succeeded"],
                    p["note"],
                )
            )
        if not steps:
            return
        with cur.connection.pipeline():  # many small statements, one round trip, log order
            cur.executemany(_OPEN, opens)
            for kind, p in steps:
                cur.execute(_SQL[kind], p)
        if history:
            copy_rows(cur, "alert_events", _EVENT_COLUMNS, history)
