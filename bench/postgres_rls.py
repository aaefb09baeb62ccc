"""Row-level security cost, same run, same rows (embedded PostgreSQL, secured):

- ``write``: 100k rows of one force into a projection table with ``copy_rows``: as the
  services' owner (COPY; the baseline) and as the force's projector (row-level security:
  multi-row INSERTs checked by the policy);
- ``read``: one force's rows of a 1M-row ``violations`` build (10 forces) counted as the
  owner with ``WHERE tenant = T`` (the baseline) and as that force's analyst through
  the ``security_invoker`` view with no WHERE (the policy filters).

    .venv/bin/python bench/postgres_rls.py [--rows 1000000]
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


def timed(fn: Any, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
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
                if role:
                    cur.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                copy_rows(cur, "bench_plates", ("tenant", "plate", "seq"), rows)
                conn.rollback()
                cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(plates.schema)))

            owner = timed(lambda: write(None))
            projector = timed(lambda: write(security.projector_role("f0")))
            result["write"] = {
                "owner_copy_rows_per_s": round(len(rows) / owner),
                "projector_rls_rows_per_s": round(len(rows) / projector),
                "slowdown": round(projector / owner, 2),
            }
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.violations (tenant, violation_id, drone_id, time,"
                    " location_precision, drone_code, status, origin, stream, seq, received_at)"
                    " SELECT 'f' || (i %% 10), 'v' || i, 'd1', %s, 'gps', 21, 'reported',"
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
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
