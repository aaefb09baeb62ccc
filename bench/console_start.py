"""Console start: time to a usable screen and memory, with a long alert history behind it.

Runs its own nats-server (embedded runtime) unless ``--nats-url`` is given. For each
size, a fresh tenant's alert stream gets ``size`` messages: reviews, most of them
claimed and resolved on earlier days, a few hundred still open. Then the real
``ConsoleApp`` (headless, as ``launch.py`` builds it) starts in a process of its own:

- ``from_stream``: no board snapshot yet, the console reads the whole stream (the
  only way before; the fallback now) and, once live, writes the snapshot on close;
- ``from_snapshot``: the next consoles start from that snapshot (median of runs).

Reported: seconds from the process's start of the console to a usable screen
(feed live and the table drawn), peak RSS of that process, the alerts shown, and
the CPU share of the idle one-second refresh once live.

    .venv/bin/python bench/console_start.py [--sizes 10000,1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prestacop import bootstrap
from prestacop.bootstrap import open_log
from prestacop.domain.codec import encode_checked
from prestacop.domain.events import (
    HUMAN_REVIEW_CODE,
    AlertClaimed,
    AnyEvent,
    OperatorDecisionRecorded,
    ViolationReported,
)
from prestacop.runtime.embedded import EmbeddedRuntime

OPEN_LEFT = 300


def history(tenant: str, n: int) -> Iterator[tuple[str, bytes, str]]:
    """``n`` alert-stream messages: review, claim, decision triples; ``OPEN_LEFT`` left open."""
    out: list[tuple[str, bytes, str]] = []
    old = datetime.now(UTC) - timedelta(days=30)
    i = sent = 0

    def add(event: AnyEvent, at: datetime) -> None:
        subject, data = encode_checked(tenant, event, at)
        out.append((subject, data, event.message_id))

    while sent + len(out) < n:
        if len(out) > 1000:
            yield from out
            sent += len(out)
            out.clear()
        i += 1
        at = old + timedelta(seconds=i)
        alert = f"a{i}"
        add(
            ViolationReported(
                message_id=alert,
                drone_id=f"d{i % 50}",
                time=at,
                latitude=40.75,
                longitude=-73.98,
                violation_code=HUMAN_REVIEW_CODE,
                image_id=f"img{i}",
                plate=f"P{i % 9999:04d}",
                confidence=0.4,
            ),
            at,
        )
        if n - sent - len(out) <= OPEN_LEFT:
            continue
        common = {"alert_id": alert, "drone_id": f"d{i % 50}", "officer_id": "o1", "time": at}
        add(AlertClaimed(message_id=f"c{i}", **common), at)  # type: ignore[arg-type]
        add(
            OperatorDecisionRecorded(message_id=f"r{i}", corrected_code=21, **common),  # type: ignore[arg-type]
            at,
        )
    yield from out[: n - sent]


async def load(url: str, tenant: str, n: int) -> float:
    log = await open_log(url, "bench-load", window=4096)
    started = time.monotonic()
    pending = []
    for subject, data, mid in history(tenant, n):
        pending.append(await log.publisher.publish(subject, data, msg_id=mid))
        if len(pending) >= 20_000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    await log.close()
    return time.monotonic() - started


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss``, not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def console_role(url: str, tenant: str) -> None:
    """One console start, measured inside its own process."""
    started = time.monotonic()
    from prestacop.alerts.control import CommandControl
    from prestacop.alerts.threaded import ThreadedAlertLog
    from prestacop.operator_tui.app import ConsoleApp

    alert_log = await ThreadedAlertLog(
        lambda: bootstrap.alert_log(url, tenant, name="bench-console", setup=False)
    ).start()
    app = ConsoleApp(alert_log, "bench", CommandControl("true"), freeze_gc=True)
    result: dict[str, Any] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        while not (app.feed_state == "live" and app.query_one("#alerts").row_count):  # type: ignore[attr-defined]
            await pilot.pause(0.01)
        result["usable_s"] = round(time.monotonic() - started, 3)
        result["shown"] = app.query_one("#alerts").row_count  # type: ignore[attr-defined]
        cpu0, t0 = time.process_time(), time.monotonic()
        await pilot.pause(3.0)  # idle: only the one-second refresh runs
        result["idle_cpu_pct"] = round(
            100 * (time.process_time() - cpu0) / (time.monotonic() - t0), 1
        )
    await alert_log.close()  # a live console writes the board snapshot on close
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def start_console(url: str, tenant: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--role", "console", "--nats-url", url, "--tenant", tenant],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode:
        raise RuntimeError(f"console process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def main_async(args: argparse.Namespace, url: str) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        tenant = "cs" + uuid.uuid4().hex[:8]
        loaded = await load(url, tenant, size)
        first = await asyncio.to_thread(start_console, url, tenant)
        runs = [await asyncio.to_thread(start_console, url, tenant) for _ in range(args.runs)]
        sizes[str(size)] = {
            "load_s": round(loaded, 1),
            "from_stream": first,
            "from_snapshot": {
                key: statistics.median(r[key] for r in runs)
                for key in ("usable_s", "peak_rss_mb", "idle_cpu_pct", "shown")
            },
            "from_snapshot_runs": runs,
        }
    return {
        "benchmark": "console_start (process start -> live screen)",
        "sizes": sizes,
        "target_usable_s_max": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nats-url", default=None)
    parser.add_argument("--role", default="main", help=argparse.SUPPRESS)
    parser.add_argument("--tenant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "console":
        asyncio.run(console_role(args.nats_url, args.tenant))
        return
    if args.nats_url:
        result = asyncio.run(main_async(args, args.nats_url))
    else:
        with tempfile.TemporaryDirectory(prefix="console-bench-") as home:
            with EmbeddedRuntime(Path(home), postgres=False) as urls:
                result = asyncio.run(main_async(args, urls.nats_url))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
