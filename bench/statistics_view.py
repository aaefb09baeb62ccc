"""Statistics projection cost: v2 (local time, final codes, cube, fines of the day) against
the original v1 (UTC, reported codes, long form only) as the baseline, same events, same run.

Each version's ``apply`` runs on the same batches (sample log: positions, violations,
decisions) into tables of its own schema in a PostgreSQL of its own (embedded runtime),
committing per batch like the runner. Prints JSON: events/s of each and the ratio.

    .venv/bin/python -m bench.statistics_view [--events 100000,1000000] [--batch 5000] \
        [--baseline FILE]

``--baseline``: the v1 module's source (default: from git, ``48b5765``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bench.scale import at_sizes, sizes
from prestacop.ports.log import RawMessage
from prestacop.projections.api import Batch, Projection
from prestacop.projections.decoding import decode_chunk
from prestacop.projections.sample_log import sample_events
from prestacop.projections.views.statistics import Statistics
from prestacop.runtime.embedded import EmbeddedRuntime


def baseline(path: str | None) -> type[Projection]:
    source = Path(path).read_text() if path else subprocess.run(
        ["git", "show", "48b5765:src/prestacop/projections/views/statistics.py"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
    ).stdout  # fmt: skip
    tmp = Path(tempfile.mkdtemp()) / "statistics_v1.py"
    tmp.write_text(source)
    spec = importlib.util.spec_from_file_location("statistics_v1", tmp)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.Statistics


def batches(events: int, size: int) -> list[Batch]:
    now = datetime.now(UTC)
    by_stream: dict[str, list[RawMessage]] = {}
    for subject, data, _ in sample_events("bench", events, seed=5):
        stream = "PRESTACOP_ALERTS" if ".alert." in subject or ".review." in subject else (
            "PRESTACOP_DRONES")  # fmt: skip
        chunk = by_stream.setdefault(stream, [])
        chunk.append((len(chunk) + 1, subject, data, int(now.timestamp() * 1e9), None))
    envs = [e for s, c in by_stream.items() for e in decode_chunk(s, c, Counter())]
    return [Batch(envs[i : i + size]) for i in range(0, len(envs), size)]


def run(conn: psycopg.Connection[Any], cls: type[Projection], work: list[Batch]) -> float:
    schema = f"bench_{cls.__module__.replace('.', '_')}_{int(time.time() * 1000)}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'SET search_path TO "{schema}"')
        for table, columns in cls.tables.items():
            cur.execute(f"CREATE TABLE {table} ({columns})")
        for statement in cls.indexes:
            cur.execute(statement)
    conn.commit()
    projection = cls()
    began = time.perf_counter()
    for batch in work:
        with conn.cursor() as cur:
            projection.apply(batch, cur)
        conn.commit()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=sizes, default="100000,1000000", help="sizes")
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--baseline")
    args = parser.parse_args()
    old = baseline(args.baseline)
    growth = ("v1_events_per_s", "v2_events_per_s", "v2_time_over_v1")
    print(json.dumps(at_sizes(args, "events", lambda one: measure(one, old), growth), indent=2))


def measure(args: argparse.Namespace, old: type[Projection]) -> dict[str, Any]:
    """Both versions on ``args.events`` events, alternated, best of two each."""
    work = batches(args.events, args.batch)
    n = sum(len(b) for b in work)
    with tempfile.TemporaryDirectory() as home:
        runtime = EmbeddedRuntime(Path(home))
        urls = runtime.start()
        try:
            with psycopg.connect(urls.database_url or "", row_factory=dict_row) as conn:
                times = {"v1": [], "v2": []}  # type: ignore[var-annotated]
                for _ in range(2):  # alternate, best of two
                    times["v1"].append(run(conn, old, work))
                    times["v2"].append(run(conn, Statistics, work))
        finally:
            runtime.stop()
    v1, v2 = min(times["v1"]), min(times["v2"])
    return {
        "events": n, "batch": args.batch,
        "v1_events_per_s": round(n / v1), "v2_events_per_s": round(n / v2),
        "v2_time_over_v1": round(v2 / v1, 2),
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
