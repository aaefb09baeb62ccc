"""``replay_runs`` and ``replay_rejects``: the NYPD replay's runs and rejected rows.

Rejects are keyed by their source file's identity and line (a resumed or repeated run
records a row once); runs by their id. Idempotent: a redelivered event changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from prestacop.domain.events import ReplayRejectRecorded, ReplayRunRecorded
from prestacop.domain.subjects import HISTORY
from prestacop.projections.api import Batch, Projection
from prestacop.projections.sql import upsert

RUNS = {
    "tenant": "text",
    "run_id": "text",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "files": "text",
    "rows_read": "bigint",
    "events": "bigint",
    "duplicates": "bigint",
    "found_in_log": "bigint",
    "rejected": "bigint",
    "rejected_by_reason": "text",
    "ok": "boolean",
    "seq": "bigint",
}
REJECTS = {
    "tenant": "text",
    "source_key": "text",
    "line": "bigint",
    "source_file": "text",
    "source_id": "text",
    "reason": "text",
    "detail": "text",
    "raw": "text",
    "run_id": "text",
    "seq": "bigint",
}


class ReplayRuns(Projection):
    name = "replay_runs"
    version = 1
    streams = (HISTORY.name,)
    tables = {
        "replay_runs": """
            tenant text NOT NULL, run_id text NOT NULL, started_at timestamptz NOT NULL,
            finished_at timestamptz NOT NULL, files text NOT NULL, rows_read bigint NOT NULL,
            events bigint NOT NULL, duplicates bigint NOT NULL, found_in_log bigint NOT NULL,
            rejected bigint NOT NULL, rejected_by_reason text NOT NULL, ok boolean NOT NULL,
            seq bigint NOT NULL, PRIMARY KEY (tenant, run_id)""",
        "replay_rejects": """
            tenant text NOT NULL, source_key text NOT NULL, line bigint NOT NULL,
            source_file text NOT NULL, source_id text, reason text NOT NULL,
            detail text NOT NULL, raw text NOT NULL, run_id text NOT NULL, seq bigint NOT NULL,
            PRIMARY KEY (tenant, source_key, line)""",
    }
    indexes = ("CREATE INDEX ON replay_rejects (tenant, reason)",)

    def apply(self, batch: Batch, cur: Any) -> None:
        runs: dict[tuple[str, str], tuple[Any, ...]] = {}
        rejects: dict[tuple[str, str, int], tuple[Any, ...]] = {}
        for env, e in batch.of(ReplayRunRecorded, ReplayRejectRecorded):
            if isinstance(e, ReplayRunRecorded):
                runs.setdefault(
                    (env.tenant, e.run_id),
                    (
                        env.tenant, e.run_id, e.started_at, e.time, json.dumps(e.files),
                        e.rows_read, e.events, e.duplicates, e.found_in_log, e.rejected,
                        json.dumps(e.rejected_by_reason, sort_keys=True), e.ok, env.seq,
                    ),
                )  # fmt: skip
            else:
                key = e.source_id or f"{e.source_file}@{e.run_id}"
                rejects.setdefault(
                    (env.tenant, key, e.line),
                    (
                        env.tenant, key, e.line, e.source_file, e.source_id, e.reason,
                        e.detail, e.raw.replace("\x00", ""), e.run_id, env.seq,
                    ),
                )  # fmt: skip
        upsert(cur, "replay_runs", RUNS, list(runs.values()), ("tenant", "run_id"))
        upsert(
            cur, "replay_rejects", REJECTS, list(rejects.values()),
            ("tenant", "source_key", "line"),
        )  # fmt: skip
