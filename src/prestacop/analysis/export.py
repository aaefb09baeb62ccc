"""The log, or a view, as Parquet files partitioned by force and local day.

``export_log`` is incremental: ``_positions.json`` holds the last sequence exported per
stream, and a run reads only what follows. Each chunk of the log (at most ``chunk``
messages: memory is bounded by it, not by the log) becomes one file per partition,
``log/tenant=<t>/local_day=<d>/<stream>-<first>-<last>.parquet``, written under a
temporary name and renamed; the position is saved after the chunk's files. A file whose
first sequence is past the saved position is the leftover of a crashed run and is
removed before anything else, so a crash never exports a message twice.

``export_view`` writes a snapshot of a view (read with a server-side cursor, in chunks)
into a new directory and swaps it in whole: views change in place (decisions), so a
snapshot is what stays equal to them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from prestacop.ports.log import LogSource
from prestacop.projections.api import LOG_STREAMS, Envelope
from prestacop.projections.decoding import decode_chunk
from prestacop.projections.local_time import zone_for

Progress = Callable[[int, int], None]
"""Called with (done, total) messages or rows."""

UTC_TS = pa.timestamp("us", tz="UTC")
LOG_SCHEMA = pa.schema(
    [
        ("stream", pa.string()),
        ("seq", pa.int64()),
        ("subject", pa.string()),
        ("received_at", UTC_TS),
        ("type", pa.string()),
        ("message_id", pa.string()),
        ("drone_id", pa.string()),
        ("time", UTC_TS),
        ("violation_code", pa.int32()),
        ("corrected_code", pa.int32()),
        ("plate_state", pa.string()),
        ("precinct", pa.int32()),
        ("borough", pa.string()),
        ("origin", pa.string()),
        ("event", pa.string()),
    ]
)
"""Common columns, the violation's main ones, and the whole event as JSON (``event``)."""
_FLAT = [f.name for f in LOG_SCHEMA][6:-1]


class ExportError(RuntimeError):
    """The export cannot go on (the log stopped answering, a view does not exist)."""


@dataclass
class ExportResult:
    messages: int = 0
    files: int = 0
    skipped_invalid: Counter[str] = field(default_factory=Counter)
    positions: dict[str, int] = field(default_factory=dict)


def _partition(root: Path, tenant: str, day: date | None) -> Path:
    return root / f"tenant={tenant}" / f"local_day={day.isoformat() if day else 'unknown'}"


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def _positions_file(root: Path, tenant: str | None) -> Path:
    return root / (f"_positions.{tenant}.json" if tenant else "_positions.json")


def _load_positions(path: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except FileNotFoundError:
        return {}


def _save_positions(path: Path, positions: dict[str, int]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(positions, sort_keys=True))
    os.replace(tmp, path)


def _remove_unfinished(root: Path, positions: dict[str, int], tenant: str | None) -> None:
    """Files of a chunk whose position was never saved (a crash mid-chunk), and temp files."""
    for path in root.glob(f"tenant={tenant or '*'}/local_day=*/*"):
        if path.name.startswith("."):
            path.unlink()
            continue
        stream, first, _last = path.stem.rsplit("-", 2)
        if int(first) > positions.get(stream, 0):
            path.unlink()


def _row(env: Envelope) -> tuple[tuple[str, date | None], dict[str, Any]]:
    e = env.event
    time = getattr(e, "time", None)
    day = time.astimezone(zone_for(env.tenant)).date() if time is not None else None
    row = {
        "stream": env.stream,
        "seq": env.seq,
        "subject": env.subject,
        "received_at": env.received_at,
        "type": type(e).__struct_config__.tag if hasattr(e, "__struct_config__") else None,
        "message_id": getattr(e, "message_id", None),
        "time": time,
        "event": msgspec.json.encode(e).decode(),
    }
    for name in _FLAT:
        row[name] = getattr(e, name, None)
    return (env.tenant, day), row


def _write_chunk(root: Path, stream: str, envs: Sequence[Envelope], first: int, last: int) -> int:
    parts: defaultdict[tuple[str, date | None], list[dict[str, Any]]] = defaultdict(list)
    for env in envs:
        key, row = _row(env)
        parts[key].append(row)
    for (tenant, day), rows in parts.items():
        table = pa.Table.from_pylist(rows, schema=LOG_SCHEMA)
        _write(table, _partition(root, tenant, day) / f"{stream}-{first:012d}-{last:012d}.parquet")
    return len(parts)


async def export_log(
    log: LogSource,
    out: Path,
    *,
    streams: Sequence[str] = LOG_STREAMS,
    tenant: str | None = None,
    chunk: int = 20_000,
    on_progress: Progress | None = None,
    timeout: float = 30.0,
) -> ExportResult:
    """Append what the log holds past the last export to ``out/log`` (see the module doc).

    ``tenant``: only that force's events (its own positions file; do not mix with a full
    export in the same directory)."""
    root = out / "log"
    root.mkdir(parents=True, exist_ok=True)
    state = _positions_file(root, tenant)
    positions = _load_positions(state)
    _remove_unfinished(root, positions, tenant)
    result = ExportResult(positions=positions)
    heads = {s: (await log.head(s)).last_seq for s in streams}
    total = sum(max(0, heads[s] - positions.get(s, 0)) for s in streams)
    done = 0
    for stream in streams:
        position = positions.get(stream, 0)
        if heads[stream] <= position:
            continue
        reader = await log.reader(stream, position + 1, name="export")
        try:
            while position < heads[stream]:
                msgs = await reader.take(min(chunk, heads[stream] - position), timeout)
                if not msgs:
                    raise ExportError(f"{stream}: no message after {position} for {timeout}s")
                envs = decode_chunk(stream, msgs, result.skipped_invalid)
                if tenant is not None:
                    envs = [e for e in envs if e.tenant == tenant]
                first, position = msgs[0][0], msgs[-1][0]
                result.files += _write_chunk(root, stream, envs, first, position)
                positions[stream] = position
                _save_positions(state, positions)
                result.messages += len(envs)
                done += len(msgs)
                if on_progress:
                    on_progress(done, total)
        finally:
            await reader.stop()
    return result


_PG_TYPES = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1082: pa.date32(),
    1184: UTC_TS,
    1700: pa.float64(),
}


def export_view(
    database_url: str,
    view: str,
    out: Path,
    *,
    namespace: str = "prestacop",
    chunk: int = 50_000,
    on_progress: Progress | None = None,
) -> ExportResult:
    """A snapshot of ``namespace.view`` in ``out/<view>``, partitioned by tenant and local day
    (the view's ``local_day``, else its ``time`` in the force's zone), swapped in whole."""
    import psycopg
    from psycopg import sql

    final = out / view
    staging = out / f".{view}.{uuid.uuid4().hex[:8]}"
    result = ExportResult()
    with psycopg.connect(database_url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT 1 FROM information_schema.views WHERE table_schema = %s AND table_name = %s",
            (namespace, view),
        )
        if cur.fetchone() is None:
            raise ExportError(f"no view {namespace}.{view}")
        cur.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(*map(sql.Identifier, (namespace, view)))
        )
        row = cur.fetchone()
        total = int(row[0]) if row else 0
        with conn.cursor(name=f"export_{uuid.uuid4().hex[:8]}") as stream:
            stream.itersize = chunk
            stream.execute(
                sql.SQL("SELECT * FROM {}.{}").format(*map(sql.Identifier, (namespace, view)))
            )
            names: list[str] = []
            schema: pa.Schema | None = None
            n = 0
            while rows := stream.fetchmany(chunk):
                if schema is None:
                    desc = stream.description or []
                    names = [d.name for d in desc]
                    schema = pa.schema(
                        [(d.name, _PG_TYPES.get(d.type_code, pa.string())) for d in desc]
                    )
                n += 1
                result.files += _write_view_chunk(staging, names, schema, rows, n)
                result.messages += len(rows)
                if on_progress:
                    on_progress(result.messages, total)
    staging.mkdir(parents=True, exist_ok=True)
    old = out / f".{view}.old.{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)
    return result


def _write_view_chunk(
    root: Path, names: list[str], schema: pa.Schema, rows: list[tuple[Any, ...]], n: int
) -> int:
    i_tenant = names.index("tenant") if "tenant" in names else None
    i_day = names.index("local_day") if "local_day" in names else None
    i_time = names.index("time") if "time" in names else None
    parts: defaultdict[tuple[str, date | None], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        tenant = row[i_tenant] if i_tenant is not None else "all"
        if i_day is not None:
            day = row[i_day]
        elif i_time is not None and row[i_time] is not None:
            day = row[i_time].astimezone(zone_for(tenant)).date()
        else:
            day = None
        parts[(tenant, day)].append(row)
    for (tenant, day), part in parts.items():
        columns = [
            pa.array([_plain(r[i]) for r in part], type=schema.field(i).type)
            for i in range(len(names))
        ]
        table = pa.Table.from_arrays(columns, schema=schema)
        _write(table, _partition(root, tenant, day) / f"part-{n:06d}.parquet")
    return len(parts)


def _plain(value: Any) -> Any:
    """Values pyarrow takes as they are; others (Decimal, arrays, JSON) as numbers or text."""
    if value is None or isinstance(value, (str, int, float, bool, date)):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    return str(value)
