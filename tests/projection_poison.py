"""A custom projection that fails on one plate: the runner's dead-letter path under test."""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import ViolationReported
from prestacop.domain.subjects import DRONES
from prestacop.projections import Batch, Projection
from prestacop.projections.sql import copy_rows


class PoisonedPlates(Projection):
    name = "poisoned_plates"
    streams = (DRONES.name,)
    tables = {"poisoned_plates": "tenant text NOT NULL, plate text, seq bigint PRIMARY KEY"}

    def apply(self, batch: Batch, cur: Any) -> None:
        rows = []
        for env, e in batch.of(ViolationReported):
            if e.plate == "POISON":
                raise ValueError(f"plate {e.plate} is poison")
            rows.append((env.tenant, e.plate, env.seq))
        copy_rows(cur, "poisoned_plates", ("tenant", "plate", "seq"), rows)
