"""The CPU floor of a rebuild on this stack, beside the rebuild, same log, same run.

Issue 13 asks a full rebuild to reach half the rate of the best raw read. Whether that
fits on a machine is a matter of CPU: the rebuild, nats-server and PostgreSQL share its
cores. This bench measures, per event and per process, in its own child processes:

- ``read``: the log reader (the rebuild's, ``adapters/log_reader.py``) over every log
  stream, counting only: the raw read;
- ``read_decode``: the same plus ``decode_chunk`` (what every rebuild must do before
  applying anything): the floor of any rebuild in Python over nats-py;
- ``rebuild``: ``rebuild_projections`` of all built-in views (as ``bench/projections.py``).

For each: wall rate, the reading process's CPU, nats-server's CPU and PostgreSQL's CPU
per event. ``bound`` is what the cores allow at best: ``cores / total CPU per event``
(every core busy, no waiting), and ``bound_vs_raw_read`` that rate over the raw read's.
``apply_budget_us_at_half`` is the CPU per event left for applying (Python and
PostgreSQL together) if a rebuild is to run at half the raw read's rate.

    .venv/bin/python -m bench.rebuild_floor [--events 100k,1M] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from typing import Any

from bench.projections import load, postgres_cpu_s, reader_read, rebuild
from bench.scale import at_sizes, sizes

ROOT = Path(__file__).resolve().parents[1]


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def read_role(nats_url: str, decode: bool) -> None:
    """Every log stream through the log reader; with ``decode``, each chunk decoded too."""
    print(json.dumps(await reader_read(nats_url, decode)))


def read(nats_url: str, nats_pid: int, decode: bool) -> dict[str, Any]:
    nats0 = _cpu_of(nats_pid)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.rebuild_floor",
            "--role",
            "decode" if decode else "read",
            "--nats-url",
            nats_url,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    got = json.loads(out.stdout.splitlines()[-1])
    n = got["messages"]
    return {
        "events": n,
        "events_per_s": round(n / got["seconds"]),
        "cpu_us_per_event": round(got["cpu_s"] / n * 1e6, 1),
        "nats_cpu_us_per_event": round((_cpu_of(nats_pid) - nats0) / n * 1e6, 1),
        "pg_cpu_us_per_event": 0.0,
    }


def rebuilt(nats_url: str, database_url: str, nats_pid: int, events: int) -> dict[str, Any]:
    nats0 = _cpu_of(nats_pid)
    r = rebuild(nats_url, database_url, events)
    return {
        "events": events,
        "events_per_s": r["events_per_s"],
        "cpu_us_per_event": r["cpu_us_per_event"],
        "nats_cpu_us_per_event": round((_cpu_of(nats_pid) - nats0) / events * 1e6, 1),
        "pg_cpu_us_per_event": r["pg_cpu_us_per_event"],
        "peak_rss_mb": r["peak_rss_mb"],
    }


def summary(runs: list[dict[str, Any]], cores: int, raw_rate: float) -> dict[str, Any]:
    keys = [k for k in runs[0] if k != "events"]
    out: dict[str, Any] = {k: round(median(r[k] for r in runs), 1) for k in keys}
    out["total_cpu_us_per_event"] = round(
        out["cpu_us_per_event"] + out["nats_cpu_us_per_event"] + out["pg_cpu_us_per_event"], 1
    )
    bound = cores * 1e6 / out["total_cpu_us_per_event"]
    out["bound_events_per_s"] = round(bound)
    out["bound_vs_raw_read"] = round(bound / raw_rate, 3)
    out["vs_raw_read"] = round(out["events_per_s"] / raw_rate, 3)
    out["runs"] = [r["events_per_s"] for r in runs]
    return out


async def _load(nats_url: str, size: int, loaded: int, seed: int) -> None:
    await load(nats_url, f"floor{size}", size - loaded, seed + size)


def measure(urls: Any, args: argparse.Namespace) -> dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    repeat, loaded = args.repeat, 0

    def one(one_size: argparse.Namespace) -> dict[str, Any]:
        nonlocal loaded
        size = one_size.events
        asyncio.run(_load(urls.nats_url, size, loaded, args.seed))
        loaded = size
        runs: dict[str, list[dict[str, Any]]] = {"read": [], "read_decode": [], "rebuild": []}
        for _ in range(repeat):  # interleaved: the machine's load is shared alike
            runs["read"].append(read(urls.nats_url, urls.nats_pid, decode=False))
            runs["read_decode"].append(read(urls.nats_url, urls.nats_pid, decode=True))
            events = runs["read"][-1]["events"]
            runs["rebuild"].append(rebuilt(urls.nats_url, urls.database_url, urls.nats_pid, events))
        raw_rate = median(r["events_per_s"] for r in runs["read"])
        out = {k: summary(v, cores, raw_rate) for k, v in runs.items()}
        floor = out["read_decode"]["total_cpu_us_per_event"]
        out["cores"] = cores
        out["apply_budget_us_at_half"] = round(cores * 1e6 / (0.5 * raw_rate) - floor, 1)
        out["apply_cpu_us_today"] = round(out["rebuild"]["total_cpu_us_per_event"] - floor, 1)
        print(json.dumps({str(size): out}), file=sys.stderr, flush=True)
        return out

    growth = [
        f"{kind}.{figure}"
        for kind in ("read", "read_decode", "rebuild")
        for figure in ("events_per_s", "total_cpu_us_per_event")
    ]
    return at_sizes(args, "events", one, [*growth, "rebuild.peak_rss_mb"])


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=sizes, default="100k,1M", help="sizes: 100k,1M")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (medians)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-tls", dest="tls", action="store_false", help="a runtime without TLS: what it costs"
    )
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--nats-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role in ("read", "decode"):
        asyncio.run(read_role(args.nats_url, decode=args.role == "decode"))
        return
    from prestacop.runtime.embedded import EmbeddedRuntime

    with tempfile.TemporaryDirectory(prefix="prestacop-floor-") as home:
        with EmbeddedRuntime(Path(home), tls=args.tls) as urls:
            assert urls.database_url is not None
            postgres_cpu_s(urls.database_url)  # fails early where /proc is not Linux's
            result = {"tls": args.tls, **measure(urls, args)}
            print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli()
