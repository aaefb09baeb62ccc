"""Row-level security cost, same run, same rows (embedded PostgreSQL, secured):

- ``write``: 100k rows of one force into a projection table with ``copy_rows``: as the
  services' owner (COPY; the baseline) and as the force's projector (row-level security:
  multi-row INSERTs checked by the policy);
- ``read``: one force's rows of a 1M-row ``violations`` build (10 forces) counted as the
  owner with ``WHERE tenant = T`` (the baseline) and as that force's analyst through
  the ``security_invoker`` view with no WHERE (the policy filters).

    .venv/bin/python -m bench.postgres_rls [--rows 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql
from psycopg.rows import dict_row

from bench.scale import at_sizes, sizes
from prestacop.adapters import postgres_security as security
from prestacop.adapters.postgres_projections import ProjectionStore
from prestacop.projections.api import Projection
from prestacop.projections.sql import copy_rows
from prestacop.projections.views.violations import Violations
from prestacop.runtime.embedded import EmbeddedRuntime

T0 = datetime(2026, 3, 2, tzinfo=UTC)


class Plates(Projection):
    name = "bench_plates"
    tables = {"bench_plates": "tenant text NOT NULL, plate text, seq bigint PRIMARY KEY"}


COLS = ("tenant", "plate", "seq")


def timed(fn: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=sizes, default="100000,1000000", help="sizes")
    args = parser.parse_args()
    growth = ("read.analyst_policy_ms", "read.owner_where_tenant_ms", "read.slowdown")
    print(json.dumps(at_sizes(args, "rows", measure, growth), indent=2))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Both costs with a ``violations`` build of ``args.rows`` rows, in a runtime of its own."""
    home = Path(tempfile.mkdtemp(prefix="prestacop-bench-rls-"))
    with EmbeddedRuntime(home) as urls:
        db = urls.database_url or ""
        store = ProjectionStore(db, "benchrls")
        store.setup()
        plates = store.create_build(Plates, "bench", tenant="f0")
        viol = store.create_build(Violations, "bench")
        store.swap(viol)
        result: dict[str, Any] = {"rows": args.rows}
        with psycopg.connect(db, row_factory=dict_row) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(plates.schema)))
            rows = [("f0", f"P{i}", i) for i in range(100_000)]

            def write(role: str | None) -> None:
                """One role per connection, as the services do (``copy_rows`` keeps what it
                learnt of a table, RLS included, per connection)."""
                with psycopg.connect(db) as own, own.cursor() as c:
                    c.execute(
                        sql.SQL("SET search_path TO {}").format(sql.Identifier(plates.schema))
                    )
                    if role:
                        c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
                    own.commit()  # the session's settings outlive each timed rollback
                    timings.append(
                        timed(lambda: (copy_rows(c, "bench_plates", COLS, rows), own.rollback()))
                    )

            timings: list[float] = []
            write(None)
            write(security.projector_role("f0"))
            owner, projector = timings
            result["write"] = {
                "owner_copy_rows_per_s": round(len(rows) / owner),
                "projector_rls_rows_per_s": round(len(rows) / projector),
                "slowdown": round(projector / owner, 2),
            }
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.violations (tenant, violation_id, drone_id, time,"
                    " location_precision, drone_code, origin, stream, seq, received_at)"
                    " SELECT 'f' || (i %% 10), 'v' || i, 'd1', %s, 'gps', 21,"
                    " 'drone', 'S', i, %s FROM generate_series(1, %s) i"
                ).format(sql.Identifier(viol.schema)),
                (T0, T0, args.rows),
            )
            cur.execute(sql.SQL("ANALYZE {}.violations").format(sql.Identifier(viol.schema)))
            role, password = security.create_analyst(cur, "f3")
            conn.commit()
            q_owner = "SELECT count(*) FROM benchrls.violations WHERE tenant = 'f3'"
            by_owner = timed(lambda: cur.execute(q_owner).fetchone())
        params = {**conninfo.conninfo_to_dict(db), "user": role, "password": password}
        params.pop("passfile", None)
        with psycopg.connect(conninfo.make_conninfo(**params)) as analyst:
            q_analyst = "SELECT count(*) FROM benchrls.violations"
            seen = analyst.execute(q_analyst).fetchone()
            by_analyst = timed(lambda: analyst.execute(q_analyst).fetchone())
        result["read"] = {
            "analyst_sees_rows": seen[0] if seen else None,
            "owner_where_tenant_ms": round(by_owner * 1000, 1),
            "analyst_policy_ms": round(by_analyst * 1000, 1),
            "slowdown": round(by_analyst / by_owner, 2),
        }
        store.close()
    return result


if __name__ == "__main__":
    main()
