"""An analyst's projection that tries to step outside its force (the isolation tests)."""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import ViolationReported
from prestacop.domain.subjects import DRONES
from prestacop.projections import Batch, Projection
from prestacop.projections.sql import copy_rows


class ForcePlates(Projection):
    name = "force_plates"
    streams = (DRONES.name,)
    tables = {"force_plates": "tenant text NOT NULL, plate text, seq bigint PRIMARY KEY"}

    def apply(self, batch: Batch, cur: Any) -> None:
        rows = []
        for env, e in batch.of(ViolationReported):
            if e.plate == "FORGE":  # writes a row in another force's name
                rows.append(("someone-else", e.plate, env.seq))
            elif e.plate == "PEEK":  # moves the build's own log position back
                cur.execute("UPDATE tracking SET notification_id = 0")
            else:
                rows.append((env.tenant, e.plate, env.seq))
        copy_rows(cur, "force_plates", ("tenant", "plate", "seq"), rows)
