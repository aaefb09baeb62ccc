"""Projection benchmark: full rebuild of all built-in views vs raw JetStream reading,
and the steady-state visibility lag at a fixed publish rate.

Runs its own nats-server and PostgreSQL (embedded runtime in a temporary folder)
unless ``--nats-url`` and ``--database-url`` are given. Same run, same events:

- ``raw_reads``: every message of the log streams read with no decoding and no
  processing, three ways: nats-py's ordered push consumer (a counting callback),
  ``pull_subscribe().fetch`` without acks, and the log reader the rebuild uses
  (``adapters/log_reader.py``); ``best_raw_read`` is the fastest of the run;
- ``rebuild``: ``rebuild_projections`` of all built-in views into fresh builds
  (decode, apply, commit, swap), in its own process (peak RSS is that process's);
- ``steady_state``: ``prestacop project run`` as a process while this one publishes
  at ``--rate`` events/s; the lag from each violation's ack to the moment the
  ``violations`` build has committed past it.

    .venv/bin/python bench/projections.py [--events 250000,1000000] [--repeat 3]
        [--rate 10000] [--seconds 20 (0: no steady-state phase)] [--profile FILE]
        [--before-src /path/to/main/src] [--no-two-processes]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig

from prestacop.adapters.log_reader import LogReader
from prestacop.bootstrap import open_log, projection_store
from prestacop.projections.api import LOG_STREAMS
from prestacop.projections.catalog import BUILTINS
from prestacop.projections.sample_log import sample_events
from prestacop.runtime.embedded import EmbeddedRuntime


async def load(nats_url: str, tenant: str, n: int, seed: int) -> dict[str, Any]:
    log = await open_log(nats_url, "bench-load", window=4096)
    started = time.monotonic()
    pending = []
    for subject, data, mid in sample_events(tenant, n, seed=seed, drones=200):
        pending.append(await log.publisher.publish(subject, data, msg_id=mid))
        if len(pending) >= 20_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    took = time.monotonic() - started
    await log.close()
    return {"events": n, "seconds": round(took, 2), "events_per_s": round(n / took)}


async def baseline(nats_url: str) -> dict[str, Any]:
    """The fastest plain read: ordered push consumers, a callback that only counts."""
    log = await open_log(nats_url, "bench-baseline", setup=False)
    heads = {s: (await log.js.stream_info(s)).state.last_seq for s in LOG_STREAMS}
    total = sum(heads.values())
    count = 0
    done = asyncio.Event()

    async def on_msg(msg: Any) -> None:
        nonlocal count
        count += 1
        if count >= total:
            done.set()

    started = time.monotonic()
    subs = [
        await log.js.subscribe(
            "",
            stream=s,
            ordered_consumer=True,
            cb=on_msg,
            pending_msgs_limit=200_000,
            pending_bytes_limit=512 << 20,
        )
        for s in LOG_STREAMS
        if heads[s]
    ]
    await done.wait()
    took = time.monotonic() - started
    for sub in subs:
        await sub.unsubscribe()
    await log.close()
    return {"messages": total, "seconds": round(took, 2), "msgs_per_s": round(total / took)}


def _median(values: Any) -> float:
    return statistics.median(values)


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss``, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def rebuild_role(nats_url: str, database_url: str, ns: str, processes: int) -> None:
    from prestacop.bootstrap import rebuild_in_processes, rebuild_projections

    started = time.monotonic()
    children: list[int] = []
    if processes > 1:
        _, children = await rebuild_in_processes(
            nats_url, database_url, namespace=ns, processes=processes
        )
    else:
        await rebuild_projections(nats_url, database_url, None, namespace=ns)
    took = time.monotonic() - started
    rss = peak_rss_kib()
    total = rss + sum(children) if children else rss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the 2-process mode's, ended
    cpu = time.process_time() + kids.ru_utime + kids.ru_stime
    print(json.dumps({"seconds": took, "peak_rss_mb": round(total / 1024, 1), "cpu_s": cpu}))


def postgres_cpu_s(database_url: str) -> float:
    """CPU seconds of the PostgreSQL serving ``database_url`` so far: its postmaster, its
    children alive, and those it has reaped (a rebuild's backends end with it). Linux only."""
    import psycopg

    def stat(pid: int | str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    with psycopg.connect(database_url) as conn:  # its backend's parent is the postmaster
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        master = int(stat(row[0])[1])
    ticks = sum(int(v) for v in stat(master)[11:15])  # utime, stime, cutime, cstime
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = stat(pid)
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == master:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rebuild(
    nats_url: str,
    database_url: str,
    events: int,
    profile: str | None = None,
    processes: int = 1,
    src: str | None = None,
) -> dict[str, Any]:
    """One rebuild in a process of its own; ``src``: with the package from that ``src``
    folder instead (another checkout's code, for a before/after in the same run)."""
    ns = "bench" + uuid.uuid4().hex[:8]
    beside = Path(sys.executable).parent / "py-spy"
    spy = [
        str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy",
        "record",
        "-f",
        "raw",
        "-r",
        "200",
        "-t",
    ]
    pg_before = postgres_cpu_s(database_url)
    out = subprocess.run(
        [
            *([*spy, "-o", profile, "--"] if profile else []),
            sys.executable,
            __file__,
            "--role",
            "rebuild",
            "--nats-url",
            nats_url,
            "--database-url",
            database_url,
            "--namespace",
            ns,
            "--processes",
            str(processes),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": src} if src else None,
    )
    if out.returncode:
        raise RuntimeError(f"rebuild process failed:\n{out.stderr[-3000:]}")
    pg_cpu = postgres_cpu_s(database_url) - pg_before
    result = json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])
    store = projection_store(database_url, ns)
    rows = 0
    for cls in BUILTINS.values():
        for table in cls.tables:
            rows += store.query(f"SELECT count(*) AS n FROM {ns}.{table}")[0]["n"]
    store.close()
    took = result["seconds"]
    return {
        "namespace": ns,
        "events": events,
        "seconds": round(took, 2),
        "events_per_s": round(events / took),
        "rows_in_views": rows,
        "rows_per_s": round(rows / took),
        "peak_rss_mb": result["peak_rss_mb"],
        "cpu_us_per_event": round(result.get("cpu_s", 0) / events * 1e6, 1),
        "pg_cpu_us_per_event": round(pg_cpu / events * 1e6, 1),
    }


def start_runner(nats_url: str, database_url: str, ns: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NATS_URL": nats_url, "DATABASE_URL": database_url}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from prestacop.cli.main import app; app()",
            "project",
            "run",
            "--namespace",
            ns,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def steady(nats_url: str, database_url: str, rate: int, seconds: float) -> dict[str, Any]:
    ns = "steady" + uuid.uuid4().hex[:8]
    proc = start_runner(nats_url, database_url, ns)
    store = projection_store(database_url, ns)
    try:
        schema = None
        while schema is None:  # the runner first catches up with the whole log
            await asyncio.sleep(0.2)
            try:
                live = store.live("violations")
                if live and store.query(
                    f'SELECT 1 FROM "{live.schema}".progress WHERE stream = %s AND seq >= %s',
                    ("PRESTACOP_DRONES", await _head(nats_url)),
                ):
                    schema = live.schema
            except Exception:
                pass
        log = await open_log(nats_url, "bench-steady", window=4096)
        tenant = "steady" + uuid.uuid4().hex[:6]
        acked: list[tuple[int, float]] = []  # (seq, ack time) of violations
        visible: dict[int, float] = {}
        stop = asyncio.Event()

        async def watch() -> None:
            query = f'SELECT seq FROM "{schema}".progress WHERE stream = %s'
            while not stop.is_set() or (acked and max(visible, default=0) < acked[-1][0]):
                r = await asyncio.to_thread(store.query, query, ("PRESTACOP_DRONES",))
                if r:
                    visible.setdefault(r[0]["seq"], time.monotonic())
                await asyncio.sleep(0.005)

        async def track(fut: asyncio.Future[Any]) -> None:
            ack = await fut
            acked.append((ack.seq, time.monotonic()))

        watcher = asyncio.create_task(watch())
        tasks = []
        started = time.monotonic()
        sent = 0
        for subject, data, mid in sample_events(tenant, int(rate * seconds), seed=5):
            due = started + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the publisher, not synchronisation
            fut = await log.publisher.publish(subject, data, msg_id=mid)
            if ".drone." in subject and subject.endswith(".violation"):
                tasks.append(asyncio.create_task(track(fut)))
            sent += 1
        await asyncio.gather(*tasks)
        achieved = sent / (time.monotonic() - started)
        stop.set()
        await asyncio.wait_for(watcher, 30)
        await log.close()
    finally:
        proc.terminate()
        proc.wait(20)
        store.close()
    points = sorted(visible.items())
    lags = []
    i = 0
    for seq, at in sorted(acked):
        while points[i][0] < seq:
            i += 1
        lags.append(points[i][1] - at)
    lags.sort()

    def pct(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 1)

    return {
        "rate_target": rate,
        "rate_achieved": round(achieved),
        "violations": len(lags),
        "lag_ms_p50": pct(0.5),
        "lag_ms_p99": pct(0.99),
        "lag_ms_max": pct(1.0),
    }


async def _head(nats_url: str) -> int:
    log = await open_log(nats_url, "bench-head", setup=False)
    seq = (await log.js.stream_info("PRESTACOP_DRONES")).state.last_seq
    await log.close()
    return seq


async def pull_fetch(nats_url: str) -> dict[str, Any]:
    """``pull_subscribe().fetch`` without acks: one round trip per batch of 1000."""
    log = await open_log(nats_url, "bench-fetch", setup=False)
    total, started = 0, time.monotonic()
    for stream in LOG_STREAMS:
        head = (await log.js.stream_info(stream)).state.last_seq
        if not head:
            continue
        psub = await log.js.pull_subscribe(
            "",
            stream=stream,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=30.0),
        )
        got = 0
        while got < head:
            got += len(await psub.fetch(1000, timeout=5.0))
        await psub.unsubscribe()
        total += got
    took = time.monotonic() - started
    await log.close()
    return {"messages": total, "seconds": round(took, 2), "msgs_per_s": round(total / took)}


async def reader_read(nats_url: str, decode: bool = False) -> dict[str, Any]:
    """The log reader (public nats-py API, bounded), counting only; with ``decode``, each
    chunk decoded as a rebuild does (``bench/rebuild_floor.py``). ``cpu_s``: this process's."""
    from prestacop.projections.decoding import decode_chunk

    log = await open_log(nats_url, "bench-reader", setup=False)
    invalid: Counter[str] = Counter()
    total, started, cpu = 0, time.monotonic(), time.process_time()
    for stream in LOG_STREAMS:
        head = (await log.js.stream_info(stream)).state.last_seq
        reader = await LogReader(log.nc, stream, 1, name="bench").start()
        got = 0
        while got < head:
            chunk = await reader.take(1000, 1.0)
            got += len(chunk)
            if decode and chunk:
                decode_chunk(stream, chunk, invalid)
        await reader.stop()
        total += got
    took, cpu = time.monotonic() - started, time.process_time() - cpu
    await log.close()
    return {
        "messages": total, "seconds": round(took, 2), "msgs_per_s": round(total / took),
        "cpu_s": cpu,
    }  # fmt: skip


async def raw_reads(nats_url: str, repeat: int) -> dict[str, Any]:
    """Each raw read ``repeat`` times, interleaved; the median of each (the machine is shared)."""
    runs: dict[str, list[dict[str, Any]]] = {"ordered_push": [], "pull_fetch": [], "log_reader": []}
    for _ in range(repeat):
        runs["ordered_push"].append(await baseline(nats_url))
        runs["pull_fetch"].append(await pull_fetch(nats_url))
        runs["log_reader"].append(await reader_read(nats_url))
    out: dict[str, Any] = {
        name: {
            "messages": r[0]["messages"],
            "msgs_per_s": _median(x["msgs_per_s"] for x in r),
            "runs": [x["msgs_per_s"] for x in r],
        }
        for name, r in runs.items()
    }
    best = max(out, key=lambda k: out[k]["msgs_per_s"])
    out["best"] = {"name": best, "msgs_per_s": out[best]["msgs_per_s"]}
    return out


async def main(args: argparse.Namespace, nats_url: str, database_url: str) -> dict[str, Any]:
    result: dict[str, Any] = {"sizes": {}}
    loaded = 0
    sizes = [int(s) for s in str(args.events).split(",")]
    for size in sizes:
        load_info = await load(nats_url, f"bench{size}", size - loaded, args.seed + size)
        loaded = size
        raw = await raw_reads(nats_url, args.repeat)
        events = raw["ordered_push"]["messages"]
        entry: dict[str, Any] = {"events_in_log": events, "load": load_info, "raw_reads": raw}
        kinds = [("rebuild", 1, None)]
        if args.two_processes:
            kinds.append(("rebuild_2_processes", 2, None))
        if args.before_src:
            kinds.append(("rebuild_before", 1, args.before_src))
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in kinds}
        for i in range(args.repeat):  # each kind once per round: the load is shared alike
            for label, processes, src in kinds:
                profiled = args.profile and i == 0 and size == sizes[0]  # (py-spy costs a little)
                spy = f"{args.profile}.{label}.{size}" if profiled else None
                runs[label].append(rebuild(nats_url, database_url, events, spy, processes, src))
        for label, got in runs.items():
            keys = (
                "seconds", "events_per_s", "peak_rss_mb", "rows_per_s", "cpu_us_per_event",
                "pg_cpu_us_per_event",
            )  # fmt: skip
            rb = {key: _median(r[key] for r in got) for key in keys}
            rb["runs"] = [r["events_per_s"] for r in got]
            rb["vs_best_raw_read"] = round(rb["events_per_s"] / raw["best"]["msgs_per_s"], 3)
            rb["vs_ordered_push"] = round(rb["events_per_s"] / raw["ordered_push"]["msgs_per_s"], 3)
            entry[label] = rb
        if args.before_src:
            before, now = entry["rebuild_before"], entry["rebuild"]
            entry["rebuild_vs_before"] = {
                "events_per_s": round(now["events_per_s"] / before["events_per_s"], 3),
                "cpu_per_event": round(now["cpu_us_per_event"] / before["cpu_us_per_event"], 3),
                "pg_cpu_per_event": round(
                    now["pg_cpu_us_per_event"] / max(before["pg_cpu_us_per_event"], 0.1), 3
                ),
            }
        result["sizes"][str(size)] = entry
        print(json.dumps({str(size): entry}), file=sys.stderr, flush=True)  # a long run's partial
    result["targets"] = {"rebuild_vs_best_raw_read_min": 0.5, "lag_ms_p99_max": 1000}
    if args.seconds > 0:
        result["steady_state"] = await steady(nats_url, database_url, args.rate, args.seconds)
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="250000,1000000", help="sizes, ascending")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (medians)")
    parser.add_argument(
        "--profile", help="py-spy (all threads) the first rebuilds of the first size: FILE.*"
    )
    parser.add_argument(
        "--before-src",
        help="also rebuild with the package in this src folder (e.g. main's), same log, same"
        " run, alternating with this checkout's: rebuild_before and rebuild_vs_before",
    )
    parser.add_argument(
        "--no-two-processes", dest="two_processes", action="store_false",
        help="skip the 2-process rebuilds",
    )  # fmt: skip
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nats-url")
    parser.add_argument("--database-url")
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "rebuild":
        asyncio.run(rebuild_role(args.nats_url, args.database_url, args.namespace, args.processes))
        return
    if args.nats_url and args.database_url:
        print(json.dumps(asyncio.run(main(args, args.nats_url, args.database_url)), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="prestacop-bench-") as home:
        with EmbeddedRuntime(Path(home)) as urls:
            assert urls.database_url is not None
            print(json.dumps(asyncio.run(main(args, urls.nats_url, urls.database_url)), indent=2))


if __name__ == "__main__":
    cli()
