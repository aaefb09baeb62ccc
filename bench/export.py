"""Peak memory of ``prestacop export`` (the log and a view) at two sizes, beside a baseline
in the same run: the same view read by ``pandas.read_sql`` and written by ``to_parquet``.

Each figure is a fresh process (``prestacop export ...`` as a user runs it), measured by a
wrapper process from ``getrusage(RUSAGE_CHILDREN)``: peak RSS and CPU seconds. The log
holds the sample log's events (``sample_events``, published up to each size); the view is
a table of violation-like rows over a year of days (``generate_series``) behind a view in
its own namespace. Flat memory: ``rss_ratio`` (large size / small size) stays near 1 for
the export while the baseline's grows with the size. Prints JSON.

    .venv/bin/python bench/export.py [--events 100000,1000000] [--skip-log]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.scale import sizes as sizes_of
from prestacop.bootstrap import open_log
from prestacop.projections.sample_log import sample_events
from prestacop.runtime.embedded import EmbeddedRuntime

WRAP = (
    "import resource, subprocess, sys, json;"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps([p.returncode, u.ru_maxrss, u.ru_utime + u.ru_stime,"
    " p.stderr.decode()[-2000:]]))"
)
BASELINE = """
import sys, warnings, pandas as pd, psycopg
warnings.simplefilter("ignore")
with psycopg.connect(sys.argv[1]) as conn:
    df = pd.read_sql("SELECT * FROM bench.violations", conn)
df.to_parquet(sys.argv[2])
"""


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Peak RSS (MiB) and CPU seconds of ``cmd`` run as its own process."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WRAP, *cmd], env=env, capture_output=True, text=True, check=True
    )
    code, rss_kib, cpu, err = json.loads(done.stdout)
    if code != 0:
        raise SystemExit(f"{cmd[:4]} failed ({code}): {err}")
    return {
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "cpu_s": round(cpu, 2),
        "wall_s": round(time.monotonic() - started, 2),
    }


async def fill_log(nats_url: str, upto: int, have: int) -> None:
    log = await open_log(nats_url, "bench-export", window=4096)
    pending = []
    for i, (subject, data, mid) in enumerate(sample_events("nypd", upto, seed=3, drones=200)):
        if i < have:
            continue  # the same sequence of events: the first ``have`` are already there
        pending.append(await log.publisher.publish(subject, data, msg_id=mid))
        if len(pending) >= 20_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await log.close()


def fill_view(database_url: str, rows: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "DROP SCHEMA IF EXISTS bench CASCADE; DROP SCHEMA IF EXISTS bench_data CASCADE;"
            " CREATE SCHEMA bench; CREATE SCHEMA bench_data"
        )
        conn.execute(
            "CREATE TABLE bench_data.violations AS SELECT"
            " 'nypd'::text AS tenant, 'v-' || i AS violation_id,"
            " timestamptz '2024-01-01 05:00+00' + (i %% 525600) * interval '1 minute' AS time,"
            " 'nypd-pct-' || (i %% 77) AS drone_id, (i %% 99) + 1 AS code,"
            " 'PLATE' || (i %% 100000) AS plate, 'NY' AS plate_state,"
            " (i %% 77) + 1 AS precinct, 'Bronx' AS borough, 'nypd_history' AS origin,"
            " 'E ' || (i %% 200) || ' ST' AS street, 65.0::float8 AS fine"
            " FROM generate_series(1, %s) AS i",
            (rows,),
        )
        conn.execute("CREATE VIEW bench.violations AS SELECT * FROM bench_data.violations")


def run(args: argparse.Namespace, nats_url: str, database_url: str) -> dict[str, Any]:
    sizes: list[int] = args.events
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": database_url}
    exe = str(Path(sys.executable).with_name("prestacop"))
    out: dict[str, Any] = {"sizes": sizes, "interpreter": measure([exe, "--version"], env)}
    have = 0
    with tempfile.TemporaryDirectory(prefix="prestacop-bench-export-") as tmp:
        for n in sizes:
            figures: dict[str, Any] = {}
            fill_view(database_url, n)
            figures["view_export"] = measure(
                [exe, "export", "violations", "--namespace", "bench", "--out", f"{tmp}/v{n}"], env
            )
            figures["view_baseline_pandas"] = measure(
                [sys.executable, "-c", BASELINE, database_url, f"{tmp}/pandas{n}.parquet"], env
            )
            if not args.skip_log:
                asyncio.run(fill_log(nats_url, n, have))
                have = n
                figures["log_export"] = measure([exe, "export", "log", "--out", f"{tmp}/l{n}"], env)
            out[str(n)] = figures
    small, large = str(sizes[0]), str(sizes[-1])
    out["rss_ratio_large_over_small"] = {
        k: round(out[large][k]["peak_rss_mib"] / out[small][k]["peak_rss_mib"], 2)
        for k in out[small]
    }
    return out


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=sizes_of, default="100000,1000000", help="two sizes")
    parser.add_argument("--skip-log", action="store_true", help="the view only (faster)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home:
        with EmbeddedRuntime(Path(home)) as urls:
            assert urls.database_url is not None
            print(json.dumps(run(args, urls.nats_url, urls.database_url), indent=2))


if __name__ == "__main__":
    cli()
