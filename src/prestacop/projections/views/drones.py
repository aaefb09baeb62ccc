"""``drones``: each drone's last position, when it was last seen, its message counts.

Summed per batch in Python, then one array upsert: ~190k events/s on a small
machine. "Last" is by event time, ties broken by log position, so the result
does not depend on how the log was cut into batches.
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import PositionReported, ViolationReported
from prestacop.domain.subjects import ALERTS, DRONES, HISTORY
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import SEEN_COLUMNS, unseen, upsert

COLUMNS = {
    "tenant": "text",
    "drone_id": "text",
    "last_position_at": "timestamptz",
    "position_seq": "bigint",
    "latitude": "float8",
    "longitude": "float8",
    "altitude_m": "float8",
    "heading_deg": "float8",
    "speed_mps": "float8",
    "battery_pct": "float8",
    "last_seen_at": "timestamptz",
    "positions": "bigint",
    "violations": "bigint",
    "messages": "bigint",
}
_POSITION = (
    "last_position_at",
    "position_seq",
    "latitude",
    "longitude",
    "altitude_m",
    "heading_deg",
    "speed_mps",
    "battery_pct",
)
_NEWER = (
    "excluded.last_position_at IS NOT NULL AND (t.last_position_at IS NULL OR"
    " (excluded.last_position_at, excluded.position_seq)"
    " > (t.last_position_at, t.position_seq))"
)


class Drones(Projection):
    name = "drones"
    version = 2  # v2: counts each event once by identity (drones_seen)
    streams = (DRONES.name, ALERTS.name, HISTORY.name)  # review violations are in ALERTS
    tables = {
        "drones": """
            tenant text NOT NULL, drone_id text NOT NULL, last_position_at timestamptz,
            position_seq bigint, latitude double precision, longitude double precision,
            altitude_m double precision, heading_deg double precision,
            speed_mps double precision, battery_pct double precision,
            last_seen_at timestamptz NOT NULL, positions bigint NOT NULL,
            violations bigint NOT NULL, messages bigint NOT NULL,
            PRIMARY KEY (tenant, drone_id)""",
        "drones_seen": SEEN_COLUMNS,
    }

    def apply(self, batch: Batch, cur: Any) -> None:
        acc: dict[tuple[str, str], list[Any]] = {}
        for env in unseen(cur, "drones_seen", batch, PositionReported, ViolationReported):
            e = env.event
            if not isinstance(e, PositionReported | ViolationReported):
                continue
            key = (env.tenant, e.drone_id)
            row = acc.get(key)
            if row is None:
                row = acc[key] = [
                    env.tenant,
                    e.drone_id,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    e.time,
                    0,
                    0,
                    0,
                ]
            row[13] += 1
            if e.time > row[10]:
                row[10] = e.time
            if isinstance(e, ViolationReported):
                row[12] += 1
                continue
            row[11] += 1
            if row[2] is None or (e.time, env.seq) > (row[2], row[3]):
                row[2:10] = [
                    e.time,
                    env.seq,
                    e.latitude,
                    e.longitude,
                    e.altitude_m,
                    e.heading_deg,
                    e.speed_mps,
                    e.battery_pct,
                ]
        update = {c: f"CASE WHEN {_NEWER} THEN excluded.{c} ELSE t.{c} END" for c in _POSITION}
        update["last_seen_at"] = "greatest(t.last_seen_at, excluded.last_seen_at)"
        for c in ("positions", "violations", "messages"):
            update[c] = f"t.{c} + excluded.{c}"
        upsert(cur, "drones", COLUMNS, list(acc.values()), ("tenant", "drone_id"), update)
