"""``prestacop project status``: where each build is against the log's head.

Positions and the time of the last applied message come from the build's own
tables (committed with its rows), per force and stream (``position_key``: each
force's account has streams of the same names); heads from each force's account.
Lag in seconds is the log time between the last applied message and the newest
one (the newest one's time is read from the message itself: nats-py does not fill
the stream state's ``last_ts``). A runner is alive if its heartbeat is recent;
events/s is that of the last commits, and zero when no runner is alive.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import sql

from prestacop.ports.log import LogSource, StreamHead
from prestacop.ports.projection import (
    LOG_STREAMS,
    Build,
    ProjectionStore,
    position_key,
    split_key,
)
from prestacop.projections.watchdog import HEARTBEAT_S


@dataclass
class BuildStatus:
    build: Build
    positions: dict[str, int]
    heads: dict[str, int]
    lag_events: int
    lag_seconds: float
    events_per_s: float
    applied: int
    dead_letters: int
    last_error: str | None
    last_error_at: datetime | None = None
    streams: list[str] = field(default_factory=list)
    runners: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    """When a runner last committed to this build (None: never)."""

    def stalled(self, now: datetime, after_s: float = 60.0) -> bool:
        """Behind the log and nothing committed for ``after_s``: no runner keeps it current."""
        if self.lag_events == 0:
            return False
        return self.updated_at is None or (now - self.updated_at).total_seconds() > after_s


def _lag_seconds(progress: dict[str, dict], heads: dict[str, StreamHead]) -> float:
    worst = 0.0
    for name, head in heads.items():
        row = progress.get(name)
        if head.last_time is None or (row and row["seq"] >= head.last_seq):
            continue
        seen = row["received_at"] if row else None
        if seen is None:
            return float("inf")
        worst = max(worst, (head.last_time - seen).total_seconds())
    return worst


def build_status(store: ProjectionStore, build: Build, heads: dict[str, StreamHead]) -> BuildStatus:
    s = sql.Identifier(build.schema)
    progress = {  # a build of layout 1 has no tenant column: the one account
        position_key(r.get("tenant") or "", r["stream"]): r
        for r in store.query(sql.SQL("SELECT * FROM {}.progress").format(s).as_string())
    }
    dead = store.query(
        sql.SQL(
            "SELECT count(*) AS n, max(recorded_at) AS at, (SELECT error FROM {0}.dead_letters"
            " ORDER BY recorded_at DESC, seq DESC LIMIT 1) AS error FROM {0}.dead_letters"
        )
        .format(s)
        .as_string()
    )[0]
    streams = sorted(set(progress) | set(heads))
    positions = {n: progress[n]["seq"] if n in progress else 0 for n in streams}
    head_seqs = {n: h.last_seq for n, h in heads.items()}
    return BuildStatus(
        build=build,
        positions=positions,
        heads=head_seqs,
        lag_events=sum(max(0, head_seqs[n] - positions.get(n, 0)) for n in head_seqs),
        lag_seconds=_lag_seconds(progress, heads),
        events_per_s=sum(r["rate"] for r in progress.values()),
        applied=sum(r["events"] for r in progress.values()),
        dead_letters=dead["n"],
        last_error=dead["error"],
        last_error_at=dead["at"],
        streams=streams,
        updated_at=max((r["updated_at"] for r in progress.values()), default=None),
    )


async def collect(
    store: ProjectionStore,
    log: LogSource | Mapping[str, LogSource],
    streams_of: dict[str, tuple[str, ...]],
) -> list[BuildStatus]:
    """Status of every build that is live or being built, against the heads of the log
    (one account) or of each force's account (``log`` by force name)."""
    logs = log if isinstance(log, Mapping) else {"": log}
    await asyncio.to_thread(store.setup)
    builds = [b for b in await asyncio.to_thread(store.builds) if b.state != "retired"]
    names = sorted({s for streams in streams_of.values() for s in streams} | set(LOG_STREAMS))
    all_heads = {
        position_key(force, n): await source.head(n, with_time=True)
        for force, source in logs.items()
        for n in names
    }
    alive = await asyncio.to_thread(store.runners_alive, 3 * HEARTBEAT_S)
    result = []
    for b in builds:
        wanted = streams_of.get(b.name, LOG_STREAMS)
        heads = {k: h for k, h in all_heads.items() if _reads(b, k, wanted)}
        status = await asyncio.to_thread(build_status, store, b, heads)
        status.runners = alive
        if not alive:
            status.events_per_s = 0.0
        result.append(status)
    return result


def _reads(build: Build, key: str, streams: tuple[str, ...]) -> bool:
    """``build`` reads ``key``: one of its streams, of every force (a force's own
    projection: of that force only)."""
    force, stream = split_key(key)
    return stream in streams and (build.tenant is None or force in ("", build.tenant))


def as_json(rows: list[BuildStatus]) -> str:
    """``project status --json``: one object per build, and whether a runner is alive."""
    return json.dumps(
        {
            "runner_alive": bool(rows and rows[0].runners),
            "runners": rows[0].runners if rows else [],
            "builds": [
                {
                    "name": r.build.name,
                    "schema": r.build.schema,
                    "state": r.build.state,
                    "positions": r.positions,
                    "heads": r.heads,
                    "lag_events": r.lag_events,
                    "lag_seconds": None if math.isinf(r.lag_seconds) else r.lag_seconds,
                    "events_per_s": r.events_per_s,
                    "applied": r.applied,
                    "dead_letters": r.dead_letters,
                    "last_error": r.last_error,
                    "last_error_at": r.last_error_at.isoformat() if r.last_error_at else None,
                }
                for r in rows
            ],
        },
        indent=2,
    )
