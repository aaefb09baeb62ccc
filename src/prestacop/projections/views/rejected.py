"""``rejected``: messages the validation gate set aside, with reason and log position.

Reads PRESTACOP_QUARANTINE, whose records point at the original message
(stream, seq) in its force's account; keyed on the force and that position (each
force's account has streams of the same names), so a record quarantined twice
counts once.
"""

from __future__ import annotations

from typing import Any

from prestacop.domain.subjects import QUARANTINE
from prestacop.gate.records import Quarantined
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import upsert

COLUMNS = {
    "tenant": "text",
    "stream": "text",
    "seq": "bigint",
    "subject": "text",
    "received_at": "timestamptz",
    "reason": "text",
    "detail": "text",
    "raw": "text",
    "raw_base64": "text",
    "quarantine_seq": "bigint",
}


class Rejected(Projection):
    name = "rejected"
    version = 2  # v2: keyed by force and position (a position is per force's account)
    streams = (QUARANTINE.name,)
    tables = {
        "rejected": """
            tenant text NOT NULL, stream text NOT NULL, seq bigint NOT NULL,
            subject text NOT NULL, received_at timestamptz NOT NULL, reason text NOT NULL,
            detail text NOT NULL, raw text, raw_base64 text, quarantine_seq bigint NOT NULL,
            PRIMARY KEY (tenant, stream, seq)""",
    }
    indexes = ("CREATE INDEX ON rejected (tenant, reason)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        rows: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        for env, r in batch.of(Quarantined):
            rows.setdefault(
                (env.tenant, r.stream, r.seq),
                (
                    env.tenant,
                    r.stream,
                    r.seq,
                    r.subject,
                    r.received_at,
                    r.reason,
                    r.detail,
                    r.raw,
                    r.raw_base64,
                    env.seq,
                ),
            )
        upsert(cur, "rejected", COLUMNS, list(rows.values()), ("tenant", "stream", "seq"))
