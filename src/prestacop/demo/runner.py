"""Runs the demo's services as background tasks while a foreground shows the board.

The foreground is replaceable: rich's live counts by default, a headless log with
``--no-console``; the officers' console takes the foreground on a terminal once it
exists (any ``async def ui(board, stop)`` that returns when ``stop`` is set, or sets
it when the user quits; ``prestacop.cli.demo`` picks which). Whatever ends the run
(``stop``: Ctrl-C, ``--duration``, a failed service), every service gets the
stop signal and time to clean up before the log connection closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prestacop.bootstrap import open_log
from prestacop.config import Settings
from prestacop.demo.dashboard import Board, ServiceState
from prestacop.demo.services import Service
from prestacop.runtime.embedded import RuntimeUrls

Foreground = Callable[[Board, asyncio.Event], Awaitable[None]]
STOP_GRACE_S = 1.5  # the gate ends its fetch (1 s) and acks what it checked


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def headless(board: Board, stop: asyncio.Event, every: float = 5.0) -> None:
    """No screen: a line of counts every few seconds (for logs and CI)."""
    while not stop.is_set():
        await wait_or_stop(stop, every)
        if stop.is_set():
            break  # the final counts are printed once, after every service stopped
        await board.refresh()
        print(board.line(), flush=True)


async def live_counts(board: Board, stop: asyncio.Event) -> None:
    """Counts per stream, rates, quarantined and alerts, redrawn every second."""
    from rich.live import Live

    with Live(board.render(), refresh_per_second=4, transient=False) as live:
        while not stop.is_set():
            await board.refresh()
            live.update(board.render())
            await wait_or_stop(stop, 1.0)


async def run_demo(
    urls: RuntimeUrls,
    settings: Settings,
    services: list[Service],
    foreground: Foreground,
    stop: asyncio.Event,
    *,
    duration: float | None = None,
) -> Board:
    """Run everything until ``stop`` (or ``duration``); the board says how each service ended."""
    log = await open_log(urls.nats_url, "prestacop-demo")  # the topology exists before anyone
    board = Board(log.js, settings.tenant, urls.nats_url)
    tasks: dict[asyncio.Task[None], ServiceState] = {}

    def ended(task: asyncio.Task[None]) -> None:
        state = tasks[task]
        if task.cancelled():
            state.state = "cancelled"
        elif (err := task.exception()) is not None:
            state.state, state.error = "failed", f"{type(err).__name__}: {err}"
            stop.set()  # a broken service ends the demo: it is not hidden behind counts
        else:
            state.state = "stopped"

    for service in services:
        state = board.services[service.name] = ServiceState(service)
        if service.needs_postgres and not urls.database_url:
            state.state = "skipped (no PostgreSQL)"
            continue
        task = asyncio.create_task(service.run(urls, settings, stop), name=service.name)
        tasks[task] = state
        state.state = "running"
        task.add_done_callback(ended)
    loop = asyncio.get_running_loop()
    timer = loop.call_later(duration, stop.set) if duration is not None else None
    try:
        await board.refresh()
        await foreground(board, stop)
    finally:
        stop.set()
        if timer is not None:
            timer.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await board.refresh()
        await log.close()
    return board
