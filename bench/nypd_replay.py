"""Benchmark of ``prestacop nypd replay`` against two baselines, measured in the same run.

    .venv/bin/python bench/nypd_replay.py --rows 100000 [--rows 1000000 ...]

For each size: generates an N-row 43-column file under /tmp from the real samples
(fresh summons numbers, dates spread over a fiscal year), starts an embedded
nats-server, and measures, each in its own process (so peak RSS is its own):
- ours: the CLI, ``prestacop nypd replay FILE`` (atomic batches; one process on up to
  two cores), and up to 1M rows its variants ``--per-message-acks`` and ``--parse-process``;
- (a) naive: stdlib ``csv.reader`` → msgspec event → ``js.publish_async``, 1024 pending;
- (b) pandas: ``pandas.read_csv`` of the same file (time and peak RSS only).
Prints one JSON object per size.

``--weak-client`` measures NYPD's weak machine instead (issue 13): every client
process pinned to one core and nats-server to the other, each client run as a
child whose CPU comes from ``wait4`` (its whole process tree) and whose memory
is the peak PSS summed over the tree (``/proc/*/smaps_rollup`` every 50 ms);
``ours`` replays new tickets, ``ours_duplicate`` the same file again with no
checkpoint (the log answers "duplicate"), against the naive script; then the
same on two cores, with ``--parse-process`` (a second process parses) beside the
default. ``--repeat`` runs alternate; medians are reported.

Every measured source tree is compiled to bytecode first, as ``pip install`` does:
otherwise each run compiles ~55 modules (0.1 s of CPU) because this machine sets
``PYTHONDONTWRITEBYTECODE``, a cost no installed replay pays.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "nypd"
SOURCES = ["fy2017_tsaimandy9112_mysql-exercise.csv", "fy2022_trunc_jernejvivod.csv"]


def generate(rows: int, path: Path, seed: int = 7) -> Path:
    """An N-row file: real rows, each with a new summons number and a past issue date."""
    rng = random.Random(seed)
    header: list[str] = []
    templates: list[list[str]] = []
    for name in SOURCES:
        with open(SAMPLES / name, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader)
            templates += [r for r in reader if len(r) == len(header)]
    dates = [
        f"{m:02d}/{d:02d}/{y}" for y, m in ((2018, m) for m in range(1, 13)) for d in range(1, 29)
    ]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        for i in range(rows):
            row = list(rng.choice(templates))
            row[0] = str(9_000_000_000 + i)
            row[4] = rng.choice(dates)
            w.writerow(row)
    return path


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- baseline (a): the naive translator ------------------------------------------------


async def naive(path: str, url: str, tenant: str) -> dict[str, float]:
    import nats

    from prestacop.domain import subjects
    from prestacop.domain.codec import encode
    from prestacop.domain.events import ViolationReported
    from prestacop.nypd_replay.nyc_time import ticket_time

    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=1024)
    began = time.perf_counter()
    n = 0
    with open(path, newline="", encoding="utf-8", errors="replace") as f:  # noqa: ASYNC230
        reader = csv.reader(f)
        h = {name: i for i, name in enumerate(next(reader))}
        for row in reader:
            event = ViolationReported(
                message_id=f"nypd-{row[h['Summons Number']]}",
                drone_id="nypd-naive",
                time=ticket_time(row[h["Issue Date"]], row[h["Violation Time"]]),
                latitude=None,
                longitude=None,
                violation_code=int(row[h["Violation Code"]]),
                plate=row[h["Plate ID"]][:16],
                plate_state=row[h["Registration State"]][:4],
                location_precision="unknown",
                origin="nypd_history",
                summons_number=row[h["Summons Number"]],
            )
            await js.publish_async(
                subjects.history(tenant, "nypd-naive"),
                encode(event),
                headers={"Nats-Msg-Id": f"{tenant}:{event.message_id}"},
            )
            n += 1
    await js.publish_async_completed()
    elapsed = time.perf_counter() - began
    await nc.close()
    return {"rows": n, "elapsed_s": round(elapsed, 2), "rows_per_s": round(n / elapsed)}


def pandas_baseline(path: str) -> dict[str, float]:
    import pandas

    began = time.perf_counter()
    frame = pandas.read_csv(path)
    elapsed = time.perf_counter() - began
    return {
        "rows": len(frame),
        "elapsed_s": round(elapsed, 2),
        "rows_per_s": round(len(frame) / elapsed),
    }


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


async def count_events(url: str, tenant: str) -> int:
    import nats

    from prestacop.domain import subjects

    nc = await nats.connect(url)
    info = await nc.jetstream().stream_info(
        subjects.HISTORY.name, subjects_filter=subjects.history(tenant, "*")
    )
    await nc.close()
    return sum((info.state.subjects or {}).values())


VARIANTS = {
    "ours": [],
    "ours_per_message_acks": ["--per-message-acks"],
    "ours_two_processes": ["--parse-process"],
}


def _ours(
    path: Path, url: str, server: int, run_dir: Path, tenant: str, flags: list[str]
) -> dict[str, object]:
    """One run of the CLI into the embedded server, under its own tenant."""
    report = run_dir / f"report_{tenant}.json"
    cpu0 = server_cpu_s(server)
    began = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "prestacop"), "nypd", "replay", str(path),
         "--tenant", tenant.replace("_", "-"), "--no-progress", "--report", str(report),
         "--rejects", str(run_dir / "rejects.csv"), "--state-dir", str(run_dir / "state"),
         *flags],
        check=True, capture_output=True, env={**_env(), "NATS_URL": url},
    )  # fmt: skip
    wall = time.perf_counter() - began
    cpu1 = server_cpu_s(server)
    ours = json.loads(report.read_text())
    return {
        "rows_per_s": ours["rows_per_s"],
        "elapsed_s": ours["elapsed_s"],
        "wall_s_with_startup": round(wall, 2),
        "peak_rss_mb": ours["peak_rss_mb"],
        "peak_rss_mb_by_process": ours["peak_rss_mb_by_process"],
        "cpu_s_by_process": {**ours["cpu_s_by_process"], "nats-server": round(cpu1 - cpu0, 2)},
        "events_in_log": asyncio.run(count_events(url, tenant.replace("_", "-"))),
        "rejected": ours["rejected"],
    }


def server_cpu_s(pid: int) -> float:
    """CPU seconds nats-server has used (Linux /proc), to charge each run its server work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(rows: int, workdir: Path) -> dict[str, object]:
    from prestacop.runtime.embedded import EmbeddedRuntime

    path = workdir / f"tickets_{rows}.csv"
    if not path.exists():
        generate(rows, path)
    result: dict[str, object] = {"rows": rows, "file_mb": round(path.stat().st_size / 2**20, 1)}
    run_dir = Path(tempfile.mkdtemp(prefix=f"run_{rows}_", dir=workdir))
    with EmbeddedRuntime(run_dir / "rt", postgres=False) as urls:
        url = urls.nats_url
        for variant, flags in VARIANTS.items():
            if variant == "ours" or rows <= 1_000_000:  # variants only where they are quick
                result[variant] = _ours(path, url, urls.nats_pid, run_dir, variant, flags)
        server0 = server_cpu_s(urls.nats_pid)
        naive_result = _child(["naive", str(path), url, "naive"])
        naive_result["cpu_s_by_process"] = {
            "naive": naive_result.pop("cpu_s"),
            "nats-server": round(server_cpu_s(urls.nats_pid) - server0, 2),
        }
        naive_result["events_in_log"] = asyncio.run(count_events(url, "naive"))
        result["baseline_naive_publish_async"] = naive_result
    shutil.rmtree(run_dir, ignore_errors=True)  # the server's store: GBs at 5M rows
    result["baseline_pandas_read_csv"] = _child(["pandas", str(path)])
    a = result["baseline_naive_publish_async"]
    p = result["baseline_pandas_read_csv"]
    for name in [*VARIANTS, "baseline_naive_publish_async"]:
        if name in result:
            cpu = result[name]["cpu_s_by_process"]  # type: ignore[index]
            result[name]["cpu_us_per_row_all_processes"] = round(  # type: ignore[index]
                sum(cpu.values()) / rows * 1e6, 1
            )
    for variant in VARIANTS:
        if variant in result:
            speedup = result[variant]["rows_per_s"] / a["rows_per_s"]  # type: ignore[index]
            result[f"speedup_vs_naive_{variant}"] = round(speedup, 2)
    result["pandas_rss_over_ours"] = round(p["peak_rss_mb"] / result["ours"]["peak_rss_mb"], 1)  # type: ignore[index]
    return result


# --- weak client: one core, all processes of the client counted ---------------------


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (Linux ``/proc/PID/task/TID/children``)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pin_all_threads(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a running process (nats-server is multi-threaded Go)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(task), cpus)
        except OSError:
            pass


def run_client(argv: list[str], cpus: set[int] | None, env: dict[str, str]) -> dict[str, float]:
    """Run ``argv`` (pinned to ``cpus``); wall time, CPU of its tree, peak PSS of its tree."""
    import threading

    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    load = os.getloadavg()[0]
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv, preexec_fn=pin, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak, stop = [0, 0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pids = _tree(proc.pid)
            total = sum(_pss_kb(p) for p in pids)
            peak[0] = max(peak[0], total)
            peak[1] = max(peak[1], len(pids))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # CPU of the child and every child it reaped
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {err.decode()[-2000:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_pss_mb": round(peak[0] / 1024, 1),
        "processes": peak[1],
        "load_1min": round((load + os.getloadavg()[0]) / 2, 2),
    }


def _weak_once(
    path: Path, rows: int, url: str, run_dir: Path, tag: str, cpus: set[int] | None
) -> dict[str, dict[str, float]]:
    env = _env()
    env["NATS_URL"] = url
    prestacop = str(Path(sys.executable).parent / "prestacop")
    tenant = f"w{tag}"

    # The same tickets under another file identity (one more blank line): the log's own
    # record of the first file (its manifest) does not apply, so every event is sent again
    # and the log answers "duplicate" (within its 120 s window) or stores it again (after).
    again = run_dir / f"again-{path.name}"
    if not again.exists():
        shutil.copyfile(path, again)
        with open(again, "ab") as f:
            f.write(b"\r\n")

    def ours(state: str, file: Path = path) -> list[str]:
        return [
            prestacop, "nypd", "replay", str(file), "--tenant", tenant, "--no-progress",
            "--rejects", str(run_dir / f"rejects-{tag}.csv"),
            "--state-dir", str(run_dir / f"state-{tag}-{state}"),
            "--report", str(run_dir / f"report-{tag}-{state}.json"),
        ]  # fmt: skip

    out: dict[str, dict[str, float]] = {}
    if OURS_ONLY:  # the memory curve at sizes where the baselines take too long here
        out["ours"] = run_client(ours("new"), cpus, env)
        out["ours"]["events_in_log"] = asyncio.run(count_events(url, tenant))
        out["ours_duplicate"] = run_client(ours("again", again), cpus, env)  # as below
        report = json.loads((run_dir / f"report-{tag}-again.json").read_text())
        out["ours_duplicate"]["answered_duplicate"] = report["duplicates"] + report["found_in_log"]
        again.unlink()
        for row in out.values():
            row["rows_per_s"] = round(rows / row["wall_s"])
            row["cpu_us_per_row"] = round(row["cpu_s"] / rows * 1e6, 2)
        return out
    out["naive"] = run_client(
        [sys.executable, __file__, "naive", str(path), url, f"n{tag}"], cpus, env
    )
    out["ours"] = run_client(ours("new"), cpus, env)
    # right after: within the log's de-duplication window (120 s) the log answers "duplicate"
    out["ours_duplicate"] = run_client(ours("again", again), cpus, env)
    report = json.loads((run_dir / f"report-{tag}-again.json").read_text())
    out["ours_duplicate"]["answered_duplicate"] = report["duplicates"] + report["found_in_log"]
    if BEFORE:  # the replay as it was (another source tree), same file, same server
        before = [sys.executable, "-m", "prestacop.cli", *ours("before")[1:]]
        before[before.index("--tenant") + 1] = f"b{tag}"
        out["before"] = run_client(before, cpus, {**env, "PYTHONPATH": BEFORE})
        if rows <= 100_000:  # the slow path of old: only where it is quick
            before[before.index("--state-dir") + 1] += "-again"
            out["before_duplicate"] = run_client(before, cpus, {**env, "PYTHONPATH": BEFORE})
    out["ours"]["events_in_log"] = asyncio.run(count_events(url, tenant))
    again.unlink()
    if cpus is None:  # two cores: is a parse process worth its memory?
        two = [*ours("two"), "--parse-process"]
        two[two.index("--tenant") + 1] = f"s{tag}"
        out["ours_two_processes"] = run_client(two, cpus, env)
    for row in out.values():
        row["rows_per_s"] = round(rows / row["wall_s"])
        row["cpu_us_per_row"] = round(row["cpu_s"] / rows * 1e6, 2)
    return out


BEFORE = ""
ONE_CORE_ONLY = False
OURS_ONLY = False
"""``--before SRC``: also run the replay from this source tree (e.g. the previous commit's)."""


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else round((values[mid - 1] + values[mid]) / 2, 3)


def measure_weak(rows: int, workdir: Path, repeat: int) -> dict[str, object]:
    from prestacop.runtime.embedded import EmbeddedRuntime

    path = workdir / f"tickets_{rows}.csv"
    if not path.exists():
        generate(rows, path)
    cores = sorted(os.sched_getaffinity(0))
    result: dict[str, object] = {"rows": rows, "file_mb": round(path.stat().st_size / 2**20, 1)}
    setups = [("one_client_core", {cores[0]}, {cores[-1]}), ("two_cores", None, None)]
    for setup, client_cpus, server_cpus in setups[:1] if ONE_CORE_ONLY else setups:
        runs: list[dict[str, dict[str, float]]] = []
        for i in range(repeat):
            run_dir = Path(tempfile.mkdtemp(prefix=f"weak_{rows}_", dir=workdir))
            with EmbeddedRuntime(run_dir / "rt", postgres=False) as urls:
                if server_cpus is not None:
                    _pin_all_threads(urls.nats_pid, server_cpus)
                    os.sched_setaffinity(0, server_cpus)  # the sampler stays off the client core
                try:
                    runs.append(_weak_once(path, rows, urls.nats_url, run_dir, str(i), client_cpus))
                finally:
                    os.sched_setaffinity(0, set(cores))
            shutil.rmtree(run_dir, ignore_errors=True)
        summary: dict[str, object] = {}
        for who in runs[0]:
            summary[who] = {k: _median([r[who][k] for r in runs]) for k in runs[0][who]}
        if OURS_ONLY:
            result[setup] = summary
            continue
        ratios = {
            "rows_per_s_vs_naive": [r["naive"]["wall_s"] / r["ours"]["wall_s"] for r in runs],
            "cpu_per_row_vs_naive": [r["ours"]["cpu_s"] / r["naive"]["cpu_s"] for r in runs],
            "duplicate_rows_per_s_vs_naive": [
                r["naive"]["wall_s"] / r["ours_duplicate"]["wall_s"] for r in runs
            ],
        }
        if "before" in runs[0]:
            ratios["before_rows_per_s_vs_naive"] = [
                r["naive"]["wall_s"] / r["before"]["wall_s"] for r in runs
            ]
            ratios["before_cpu_per_row_vs_naive"] = [
                r["before"]["cpu_s"] / r["naive"]["cpu_s"] for r in runs
            ]
        if "ours_two_processes" in runs[0]:
            ratios["two_processes_rows_per_s_vs_naive"] = [
                r["naive"]["wall_s"] / r["ours_two_processes"]["wall_s"] for r in runs
            ]
        summary["median_ratios"] = {k: round(_median(v), 2) for k, v in ratios.items()}
        summary["runs"] = repeat
        result[setup] = summary
    return result


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "NATS_URL"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--weak-client", action="store_true", help="one client core (issue 13)")
    parser.add_argument("--repeat", type=int, default=1, help="weak client: runs per size")
    parser.add_argument("--one-core-only", action="store_true", help="weak client: no 2-core runs")
    parser.add_argument("--before", default="", help="weak client: also this source tree's replay")
    parser.add_argument("--ours-only", action="store_true", help="weak client: no baselines")
    args, rest = parser.parse_known_args()
    if rest and rest[0] == "naive":
        out = asyncio.run(naive(rest[1], rest[2], rest[3]))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = round(usage.ru_utime + usage.ru_stime, 2)
        print(json.dumps({**out, "peak_rss_mb": peak_rss_mb(), "cpu_s": cpu}))
        return
    if rest and rest[0] == "pandas":
        out = pandas_baseline(rest[1])
        print(json.dumps({**out, "peak_rss_mb": peak_rss_mb()}))
        return
    import compileall

    import prestacop

    for tree in [Path(prestacop.__file__).parent, *([Path(args.before)] if args.before else [])]:
        compileall.compile_dir(tree, quiet=1)  # as installed: see the docstring
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nypd-bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    global BEFORE, ONE_CORE_ONLY, OURS_ONLY
    BEFORE, ONE_CORE_ONLY, OURS_ONLY = args.before, args.one_core_only, args.ours_only
    for rows in args.rows or [100_000]:
        if args.weak_client:
            print(json.dumps(measure_weak(rows, workdir, args.repeat)), flush=True)
        else:
            print(json.dumps(measure(rows, workdir)), flush=True)


if __name__ == "__main__":
    main()
