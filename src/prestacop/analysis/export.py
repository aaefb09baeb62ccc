"""The log, or a view, as Parquet files partitioned by force and local day.

``export_log`` is incremental: ``_positions.json`` holds the last sequence exported per
stream, and a run reads only what follows. Each chunk of the log (at most ``chunk``
messages: memory is bounded by it, not by the log) becomes one file per partition,
``log/tenant=<t>/local_day=<d>/<stream>-<first>-<last>.parquet``, written under a
temporary name and renamed; the position is saved after the chunk's files. A file whose
first sequence is past the saved position is the leftover of a crashed run and is
removed before anything else, so a crash never exports a message twice.

``export_view`` is incremental too, although views change in place (a decision moves a
count on an earlier day): in one snapshot of the database it takes a fingerprint of each
partition (row count and a sum of row hashes, computed by PostgreSQL) and rewrites only
the partitions whose fingerprint differs from the last export's (``_export.json``),
streaming their rows ordered by partition into one file each
(``<view>/tenant=<t>/local_day=<d>/data.parquet``, renamed over the old one); partitions
gone from the view are removed. When the projection behind the view has not moved since
the last export (same build, same positions), nothing is read at all.
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

from prestacop.analysis.charts import Connect
from prestacop.ports.log import LogSource
from prestacop.projections.api import LOG_STREAMS, Envelope
from prestacop.projections.decoding import decode_chunk
from prestacop.projections.local_time import zone_for, zone_names

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
    connect: Connect,
    view: str,
    out: Path,
    *,
    namespace: str = "prestacop",
    chunk: int = 20_000,
    on_progress: Progress | None = None,
) -> ExportResult:
    """``namespace.view`` in ``out/<view>``, one file per force and local day (the view's
    ``local_day``, else its ``time`` in the force's zone), rewriting only the partitions
    whose rows changed since the last export (see the module doc)."""
    import psycopg
    from psycopg import sql

    root = out / view
    state = root / "_export.json"
    before = _load_manifest(state) if root.exists() else None
    result = ExportResult()
    with connect() as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot
        conn.read_only = True
        cur = conn.cursor()
        cur.execute(
            "SELECT 1 FROM information_schema.views WHERE table_schema = %s AND table_name = %s",
            (namespace, view),
        )
        if cur.fetchone() is None:
            raise ExportError(f"no view {namespace}.{view}")
        position = _view_position(conn, namespace, view)
        if before is not None and position is not None and before.get("position") == position:
            return result  # the view's projection has not moved: nothing new
        source = sql.SQL("{}.{}").format(sql.Identifier(namespace), sql.Identifier(view))
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(source))
        desc = cur.description or []
        names = [d.name for d in desc]
        # The partition's columns live in the directory names only (hive style): kept in the
        # files too, pyarrow (pandas) refuses the dataset (date in the file, text in the path).
        keep = [i for i, n in enumerate(names) if n not in ("tenant", "local_day")]
        schema = pa.schema(
            [(names[i], _PG_TYPES.get(desc[i].type_code, pa.string())) for i in keep]
        )
        keyed = sql.SQL("SELECT {}, {}, v.* FROM {} v").format(
            _tenant_sql(names), _day_sql(names), source
        )
        cur.execute(
            sql.SQL(
                "SELECT _t, _d, count(*), sum(('x' || left(md5(p::text), 15))::bit(60)::bigint)"
                "::text FROM ({}) p GROUP BY 1, 2"
            ).format(keyed)
        )
        now = {f"{t}/{d}": [int(n), h] for t, d, n, h in cur.fetchall()}
        if before is None:
            shutil.rmtree(root, ignore_errors=True)  # no manifest: an older snapshot, or none
        for tmp in root.glob("tenant=*/local_day=*/.*.tmp"):
            tmp.unlink()  # a crashed run's unfinished file (the old one is still in place)
        old = (before or {}).get("parts", {})
        touched = sorted(k for k, v in now.items() if old.get(k) != v)
        for gone in set(old) - set(now):
            shutil.rmtree(_partition_of(root, gone), ignore_errors=True)
        total = sum(now[k][0] for k in touched)
        if touched:
            keys = [k.split("/", 1) for k in touched]
            with conn.cursor(name=f"export_{uuid.uuid4().hex[:8]}") as rows:
                rows.itersize = chunk
                rows.execute(
                    sql.SQL(
                        "SELECT p.* FROM ({}) p JOIN unnest(%s::text[], %s::text[]) AS k(t, d)"
                        " ON p._t = k.t AND p._d = k.d ORDER BY p._t, p._d"
                    ).format(keyed),
                    ([t for t, _ in keys], [d for _, d in keys]),
                )
                done = (lambda n: on_progress(n, total)) if on_progress else None
                writer = _PartitionWriter(root, schema, keep, done)
                while batch := rows.fetchmany(chunk):
                    writer.write(batch)
                    result.messages += len(batch)
                result.files = writer.close()
        root.mkdir(parents=True, exist_ok=True)
        _save_manifest(state, {"position": position, "parts": now})
    return result


def _tenant_sql(names: list[str]) -> Any:
    from psycopg import sql

    return sql.SQL("v.tenant::text AS _t" if "tenant" in names else "'all'::text AS _t")


def _day_sql(names: list[str]) -> Any:
    """The partition's local day as text (``unknown`` when the row has no time)."""
    from psycopg import sql

    day: sql.Composable
    if "local_day" in names:
        day = sql.SQL("v.local_day::date")
    elif "time" in names:
        named, other = zone_names()
        zone = sql.SQL("CASE {} ELSE {} END").format(
            sql.SQL(" ").join(
                sql.SQL("WHEN v.tenant::text = {} THEN {}").format(sql.Literal(t), sql.Literal(z))
                for t, z in named.items()
            )
            if "tenant" in names and named
            else sql.SQL("WHEN false THEN NULL"),
            sql.Literal(other),
        )
        day = sql.SQL("(v.time AT TIME ZONE {})::date").format(zone)
    else:
        day = sql.SQL("NULL::date")
    return sql.SQL("COALESCE({}::text, 'unknown') AS _d").format(day)


def _view_position(conn: Any, namespace: str, view: str) -> dict[str, Any] | None:
    """The live build behind the view and how far it has read each stream, in the export's
    snapshot; None when the registry cannot be read (a custom schema, no grant)."""
    import psycopg
    from psycopg import sql

    meta = sql.Identifier(f"{namespace}_meta")
    try:
        with conn.transaction():  # a savepoint: a failure leaves the snapshot usable
            cur = conn.cursor()
            cur.execute(
                sql.SQL(
                    "SELECT schema FROM {}.builds WHERE state = 'live' AND %s = ANY(tables)"
                ).format(meta),
                (view,),
            )
            found = cur.fetchone()
            if found is None:
                return None
            cur.execute(
                sql.SQL("SELECT stream, seq FROM {}.progress ORDER BY stream").format(
                    sql.Identifier(found[0])
                )
            )
            return {"build": found[0], "progress": {s: int(q) for s, q in cur.fetchall()}}
    except psycopg.Error:
        return None


class _PartitionWriter:
    """Rows ordered by partition (``_t``, ``_d`` first) into one file per partition, each
    written under a temporary name and renamed over the old one: a reader sees the old
    file or the new one, never both (one row group per chunk: memory stays bounded)."""

    def __init__(
        self,
        root: Path,
        schema: pa.Schema,
        keep: list[int],
        on_file: Callable[[int], None] | None = None,
    ) -> None:
        self.root, self.schema, self.on_file = root, schema, on_file
        self.rows = 0
        self.keep = [i + 2 for i in keep]  # after the partition key
        self.key: tuple[str, str] | None = None
        self.writer: pq.ParquetWriter | None = None
        self.tmp = self.path = root
        self.files = 0

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        start = 0
        for i, row in enumerate(rows):
            if (row[0], row[1]) != self.key:
                self._flush(rows[start:i])
                self._finish()
                self.key = (row[0], row[1])
                self._open()
                start = i
        self._flush(rows[start:])

    def _open(self) -> None:
        assert self.key is not None
        self.path = _partition_of(self.root, "/".join(self.key)) / "data.parquet"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".data.{uuid.uuid4().hex[:8]}.tmp")
        self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")

    def _flush(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows or self.writer is None:
            return
        columns = [
            pa.array([_plain(r[i]) for r in rows], type=field.type)
            for i, field in zip(self.keep, self.schema, strict=True)
        ]
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        self.rows += len(rows)

    def _finish(self) -> None:
        if self.writer is not None:
            self.writer.close()
            os.replace(self.tmp, self.path)
            self.files += 1
            self.writer = None
            if self.on_file:
                self.on_file(self.rows)  # progress per partition, not per chunk of rows

    def close(self) -> int:
        self._finish()
        return self.files


def _partition_of(root: Path, key: str) -> Path:
    tenant, day = key.split("/", 1)
    return root / f"tenant={tenant}" / f"local_day={day}"


def _load_manifest(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) and "parts" in found else None


def _save_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, sort_keys=True))
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """Values pyarrow takes as they are; others (Decimal, arrays, JSON) as numbers or text."""
    if value is None or isinstance(value, (str, int, float, bool, date)):
        return value
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    return str(value)
