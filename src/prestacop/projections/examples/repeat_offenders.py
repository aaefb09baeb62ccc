"""Example of an analyst's projection: plates seen in more than one violation.

Fill it from the whole log with ``prestacop project rebuild --custom
prestacop.projections.examples.repeat_offenders:RepeatOffenders``, then query
``prestacop.repeat_offenders``.
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.events import ViolationReported
from prestacop.projections import Batch, Projection
from prestacop.projections.sql import upsert


class RepeatOffenders(Projection):
    name = "repeat_offenders"
    version = 1
    tables = {
        "repeat_offenders": """
            tenant text NOT NULL, plate text NOT NULL, plate_state text NOT NULL,
            violations bigint NOT NULL, first_seen timestamptz NOT NULL,
            last_seen timestamptz NOT NULL,
            PRIMARY KEY (tenant, plate, plate_state)""",
    }
    indexes = ("CREATE INDEX ON repeat_offenders (tenant, violations DESC)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        seen: dict[tuple[str, str, str], list[Any]] = {}
        for env, v in batch.of(ViolationReported):
            if not v.plate or v.plate in ("BLANKPLATE", "N/A"):
                continue
            key = (env.tenant, v.plate, v.plate_state or "")
            row = seen.setdefault(key, [*key, 0, v.time, v.time])
            row[3] += 1
            row[4] = min(row[4], v.time)
            row[5] = max(row[5], v.time)
        upsert(
            cur,
            "repeat_offenders",
            {
                "tenant": "text",
                "plate": "text",
                "plate_state": "text",
                "violations": "bigint",
                "first_seen": "timestamptz",
                "last_seen": "timestamptz",
            },
            list(seen.values()),
            key=("tenant", "plate", "plate_state"),
            update={
                "violations": "t.violations + excluded.violations",
                "first_seen": "least(t.first_seen, excluded.first_seen)",
                "last_seen": "greatest(t.last_seen, excluded.last_seen)",
            },
        )
