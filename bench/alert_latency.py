"""Alert latency: from a drone's publish of a human-review violation to the console's handler.

Runs its own nats-server (embedded runtime in a temporary folder) unless ``--nats-url``
is given. Three phases, same run, fresh tenant each:

- ``baseline``: a drone process raises alerts; nothing else runs;
- ``under_load``: the same, while flood processes publish positions into
  PRESTACOP_DRONES as fast as the machine takes them (bounded window, own acks);
- ``under_load_feed_without_ui``: the same flood, the feed alone (no Textual app in
  the process): what the priority path itself costs, apart from the app's own CPU.

The console is the real ``ConsoleApp`` (headless, via ``run_test``) over the real
JetStream feed on its own thread, as ``launch.py`` runs it. Times: ``p50/p99/max_ms``
when the app's message handler runs; ``feed_callback`` when the feed's thread hands the
alert over; ``drone_ack`` when the drone got the log's ack. Drone and console are
separate processes sharing CLOCK_MONOTONIC. Prints JSON.

    .venv/bin/python -m bench.alert_latency [--alerts 500,5000] [--interval-ms 10] [--floods 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scale import at_sizes, sizes
from prestacop import bootstrap
from prestacop.alerts.control import CommandControl
from prestacop.alerts.ports import FeedItem, LogEntry
from prestacop.alerts.threaded import ThreadedAlertLog
from prestacop.bootstrap import open_log
from prestacop.domain import subjects
from prestacop.domain.codec import encode, encode_checked
from prestacop.domain.events import HUMAN_REVIEW_CODE, PositionReported, ViolationReported
from prestacop.operator_tui.app import ConsoleApp
from prestacop.operator_tui.widgets import AlertTable
from prestacop.runtime.embedded import EmbeddedRuntime


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


# -- the drone: raises alerts at a steady pace, notes when each was published ----------------


async def _drone(
    url: str, tenant: str, n: int, interval_s: float
) -> tuple[dict[str, int], dict[str, int]]:
    log = await open_log(url, "bench-drone", setup=False)
    await log.images.put(tenant, "bench-img", b"\xff\xd8bench", "image/jpeg")
    sent: dict[str, int] = {}
    acked: dict[str, int] = {}
    acks = []
    for _ in range(n):
        event = ViolationReported(
            message_id=uuid.uuid4().hex,
            drone_id="drone-1",
            time=datetime.now(UTC),
            latitude=40.75,
            longitude=-73.98,
            violation_code=HUMAN_REVIEW_CODE,
            image_id="bench-img",
            confidence=0.3,
        )
        subject, data = encode_checked(tenant, event, datetime.now(UTC))
        sent[event.message_id] = now_ns()
        ack = await log.publisher.publish(subject, data, msg_id=event.message_id)
        ack.add_done_callback(lambda _, mid=event.message_id: acked.setdefault(mid, now_ns()))
        acks.append(ack)
        await asyncio.sleep(interval_s)  # the pace of the workload, not a synchronisation
    await asyncio.gather(*acks)
    await log.close()
    return sent, acked


def drone_process(url: str, tenant: str, n: int, interval_s: float, out: Any) -> None:
    out.put(asyncio.run(_drone(url, tenant, n, interval_s)))


# -- the flood: positions at the maximum rate ----------------------------------------------


async def _flood(url: str, stop: Any, out: Any) -> None:
    log = await open_log(url, "bench-flood", window=4096, setup=False)
    subject = subjects.position("flood", "drone-f")
    data = encode(
        PositionReported(
            message_id="f",
            drone_id="drone-f",
            time=datetime.now(UTC),
            latitude=40.7,
            longitude=-73.9,
            battery_pct=50.0,
        )
    )
    count = 0

    def done(fut: asyncio.Future[Any]) -> None:
        nonlocal count
        if not fut.exception():
            count += 1

    began = time.perf_counter()
    while not stop.is_set():
        for _ in range(1000):
            (await log.publisher.publish(subject, data)).add_done_callback(done)
    await log.publisher.flush()
    elapsed = time.perf_counter() - began
    await log.close()
    out.put(count / elapsed)


def flood_process(url: str, stop: Any, out: Any) -> None:
    asyncio.run(_flood(url, stop, out))


def percentiles(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "over_50ms": sum(1 for x in ms if x > 50),
    }


class GcPauses:
    """The console process's garbage collections while the alerts flow (they hold the GIL)."""

    def __init__(self) -> None:
        self.ms: list[tuple[int, float]] = []
        self.cpu_ms: list[float] = []  # the collecting thread's CPU: the pause less preemption
        self._began = self._cpu = 0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began, self._cpu = now_ns(), time.thread_time_ns()
        else:
            self.ms.append((info["generation"], (now_ns() - self._began) / 1e6))
            self.cpu_ms.append((time.thread_time_ns() - self._cpu) / 1e6)

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def summary(self) -> dict[str, Any]:
        cpu = {"cpu_max_ms": round(max(self.cpu_ms), 2)} if self.cpu_ms else {}
        return cpu | {
            f"gen{g}": {
                "count": len(ms),
                "max_ms": round(max(ms), 2),
                "total_ms": round(sum(ms), 1),
            }
            for g in (0, 1, 2)
            if (ms := [d for gen, d in self.ms if gen == g])
        }


def _cpu_summary(ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)
    return {
        "count": len(ms),
        "cpu_total_ms": round(sum(ms), 1),
        "over_10ms": sum(1 for x in ms if x > 10),
        **({"cpu_p99_ms": percentiles(ms)["p99_ms"], "cpu_max_ms": round(ms[-1], 2)} if ms else {}),
    }


class TableRedraws:
    """The alert table's paints (``render_lines`` calls) and the app's redraws (its state
    put into the widgets), with the UI thread's CPU in each."""

    def __init__(self) -> None:
        self.cpu_ms: list[float] = []
        self.redraw_cpu_ms: list[float] = []
        self.lines = 0
        self.counting = False

    @contextlib.contextmanager
    def watching(self) -> Any:
        paint, redraw = AlertTable.render_lines, ConsoleApp.redraw

        def timed(table: AlertTable, crop: Any) -> Any:
            began = time.thread_time_ns()
            strips = paint(table, crop)
            if self.counting:
                self.cpu_ms.append((time.thread_time_ns() - began) / 1e6)
                self.lines += len(strips)
            return strips

        def timed_redraw(app: ConsoleApp, **kwargs: Any) -> None:
            began = time.thread_time_ns()
            redraw(app, **kwargs)
            if self.counting:
                self.redraw_cpu_ms.append((time.thread_time_ns() - began) / 1e6)

        AlertTable.render_lines = timed  # type: ignore[method-assign]
        ConsoleApp.redraw = timed_redraw  # type: ignore[method-assign]
        try:
            yield
        finally:
            AlertTable.render_lines = paint  # type: ignore[method-assign]
            ConsoleApp.redraw = redraw  # type: ignore[method-assign]

    def summary(self) -> dict[str, Any]:
        return {"redraws": _cpu_summary(self.redraw_cpu_ms)} | self._paints()

    def _paints(self) -> dict[str, Any]:
        cpu = _cpu_summary(self.cpu_ms)
        return {"paints": cpu.pop("count"), "lines": self.lines, **cpu}


# -- the console: the real app, headless; the clock stops in its handler --------------------


@contextlib.asynccontextmanager
async def console(
    alert_log: ThreadedAlertLog, ui: bool, on_arrival: Callable[[FeedItem], None]
) -> AsyncIterator[None]:
    """The real app (headless) on the feed, or (``ui=False``) the feed alone."""
    if not ui:
        await alert_log.follow(on_arrival, lambda state: None)
        yield
        return
    app = ConsoleApp(  # as launch.py builds it
        alert_log, "bench", CommandControl("true"), on_arrival=on_arrival, freeze_gc=True
    )
    async with app.run_test(size=(100, 30)):
        yield


async def measure(
    url: str, n: int, interval_s: float, floods: int, *, ui: bool = True
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    tenant = "bench" + uuid.uuid4().hex[:8]
    arrived: dict[str, int] = {}
    all_arrived, live = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_arrival(item: FeedItem) -> None:  # on the UI loop, or the feed's thread (ui=False)
        if isinstance(item, LogEntry) and isinstance(item.event, ViolationReported):
            arrived.setdefault(item.event.message_id, now_ns())
            if len(arrived) == n:
                loop.call_soon_threadsafe(all_arrived.set)

    stop, rates = ctx.Event(), ctx.Queue()
    flooders = [ctx.Process(target=flood_process, args=(url, stop, rates)) for _ in range(floods)]
    for p in flooders:
        p.start()
    alert_log = await ThreadedAlertLog(  # as the console runs it (launch.py)
        lambda: bootstrap.alert_log(url, tenant, name="bench-console")
    ).start()
    at_feed: dict[str, int] = {}
    follow = alert_log.follow

    async def follow_timed(on_item: Any, on_state: Any) -> None:
        def timed(item: FeedItem) -> None:
            if isinstance(item, LogEntry) and isinstance(item.event, ViolationReported):
                at_feed.setdefault(item.event.message_id, now_ns())
            on_item(item)

        def state(value: Any) -> None:
            if value == "live":
                loop.call_soon_threadsafe(live.set)
            on_state(value)

        await follow(timed, state)

    alert_log.follow = follow_timed  # type: ignore[method-assign]
    pauses, redraws = GcPauses(), TableRedraws()
    try:
        with redraws.watching():
            async with console(alert_log, ui, on_arrival):
                await asyncio.wait_for(live.wait(), 30)
                if floods:
                    await asyncio.sleep(1.0)  # let the flood reach its pace first
                sent_q = ctx.Queue()
                drone = ctx.Process(target=drone_process, args=(url, tenant, n, interval_s, sent_q))
                drone.start()
                pauses.start()
                redraws.counting = True
                sent, acked = await asyncio.to_thread(sent_q.get, True, 120)
                with contextlib.suppress(TimeoutError):  # the lost ones are counted below
                    await asyncio.wait_for(all_arrived.wait(), 30)
                await asyncio.to_thread(drone.join)
                redraws.counting = False
    finally:
        pauses.stop()
        stop.set()
        flood_rates = [await asyncio.to_thread(rates.get, True, 60) for _ in flooders]
        for p in flooders:
            p.join()
        await alert_log.close()
    lat_ms = sorted((arrived[k] - t0) / 1e6 for k, t0 in sent.items() if k in arrived)
    feed_ms = sorted((at_feed[k] - t0) / 1e6 for k, t0 in sent.items() if k in at_feed)
    ui_ms = sorted((arrived[k] - at_feed[k]) / 1e6 for k in arrived if k in at_feed and ui)
    result: dict[str, Any] = {
        "alerts_sent": len(sent),
        "alerts_arrived": len(lat_ms),
        "lost": len(sent) - len(lat_ms),
        **percentiles(lat_ms),
        "feed_callback": percentiles(feed_ms),
        "feed_to_handler": percentiles(ui_ms),  # the app's share: its queue, its frames
        "gc_pauses": pauses.summary(),
        **({"table_redraws": redraws.summary()} if ui else {}),
        "drone_ack": percentiles(
            sorted((acked[k] - t0) / 1e6 for k, t0 in sent.items() if k in acked)
        ),
    }
    if floods:
        result["flood_positions_per_s"] = round(sum(flood_rates))
        result["flood_processes"] = floods
    return result


async def main_async(args: argparse.Namespace, url: str) -> dict[str, Any]:
    pace = args.interval_ms / 1000
    baseline = await measure(url, args.alerts, pace, 0)
    loaded = await measure(url, args.alerts, pace, args.floods)
    feed_only = await measure(url, args.alerts, pace, args.floods, ui=False)
    return {
        "benchmark": "alert_latency (drone publish -> console handler)",
        "cpus": os.cpu_count(),
        "alerts_per_phase": args.alerts,
        "interval_ms": args.interval_ms,
        "baseline": baseline,
        "under_load": loaded,
        "under_load_feed_without_ui": feed_only,
        "target_p99_ms": 50,
        "target_met": loaded.get("p99_ms", 1e9) < 50 and loaded["lost"] == 0,
    }


def secured(home: Path, urls: Any) -> None:
    """Operator mode and TLS, as production: every process of the bench (drone, floods,
    console) connects over TLS with a force account's service credentials (the phases'
    fresh tenants are subjects of that account)."""
    from prestacop.bootstrap import add_tenant
    from prestacop.security.authority import Authority

    os.environ["NATS_CA"] = urls.nats_ca
    os.environ.pop("NATS_CREDS", None)
    asyncio.run(add_tenant(urls.nats_url, home, "bench"))
    os.environ["NATS_CREDS"] = str(Authority(home).service_creds("bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=sizes, default="500,5000", help="sizes")
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--floods", type=int, default=1, help="flood processes under load")
    parser.add_argument("--nats-url", default=None, help="use this server, not an embedded one")
    parser.add_argument(
        "--insecure", action="store_true", help="an open embedded server (default: secured)"
    )
    args = parser.parse_args()
    growth = ("baseline.p99_ms", "under_load.p99_ms", "under_load_feed_without_ui.p99_ms")
    json.dump(at_sizes(args, "alerts", at_size, growth), sys.stdout, indent=2)
    print()


def at_size(args: argparse.Namespace) -> dict:
    """Latencies at ``args.alerts`` alerts, on a server of its own unless ``--nats-url``."""
    if args.nats_url:
        result = asyncio.run(main_async(args, args.nats_url))
    else:
        with tempfile.TemporaryDirectory(prefix="alert-bench-") as home:
            runtime = EmbeddedRuntime(Path(home), postgres=False, secure=not args.insecure)
            with runtime as urls:
                if not args.insecure:
                    secured(Path(home), urls)
                result = asyncio.run(main_async(args, urls.nats_url))
                result["secured"] = not args.insecure
    result["loadavg"] = os.getloadavg()
    return result


if __name__ == "__main__":
    main()
