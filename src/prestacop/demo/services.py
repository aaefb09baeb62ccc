"""The services the demo runs: add yours here with one line.

A service is a name and ``async def run(urls, settings, stop)`` that works until
``stop`` is set, then cleans up and returns (raising means it failed: the demo
stops and says so). ``status`` is an optional one-line summary for the screen.
Heavy imports stay inside the functions: the core CLI must load without them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from prestacop.config import Settings
from prestacop.runtime.embedded import RuntimeUrls

if TYPE_CHECKING:
    from prestacop.gate.service import GateCounters
    from prestacop.simulator import SimulationOptions, SimulatorStats

Run = Callable[[RuntimeUrls, Settings, asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Service:
    name: str
    run: Run
    needs_postgres: bool = False
    status: Callable[[], str] = field(default=lambda: "")


class FleetService:
    """The simulated drones, flying for the demo's tenant."""

    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.stats: SimulatorStats | None = None

    async def run(self, urls: RuntimeUrls, settings: Settings, stop: asyncio.Event) -> None:
        from prestacop.bootstrap import open_log
        from prestacop.simulator import Simulator

        log = await open_log(urls.nats_url, "prestacop-demo-drones")
        try:
            sim = Simulator(log, replace(self.options, tenant=settings.tenant))
            self.stats = sim.stats
            await sim.run(stop)
        finally:
            await log.close()
        if sim.stats.failures:
            raise RuntimeError(
                f"{sim.stats.failures} drone messages not stored; last: {sim.stats.last_error}"
            )

    def status(self) -> str:
        s = self.stats
        if s is None:
            return "taking off"
        return (
            f"{self.options.drones} drones, "
            f"positions {s.positions_acked}/{s.positions_sent} acked, "
            f"violations {s.violations_acked} ({s.reviews_acked} for review), lag {s.lag_s:.2f}s"
            + (f", {s.failures} failed" if s.failures else "")
        )


class GateService:
    """The validation gate: sets invalid live messages aside with their reason (issue 2)."""

    def __init__(self) -> None:
        self.counters: GateCounters | None = None

    async def run(self, urls: RuntimeUrls, settings: Settings, stop: asyncio.Event) -> None:
        from prestacop import bootstrap
        from prestacop.gate.service import GateCounters

        self.counters = GateCounters()
        counters, each = self.counters, bootstrap.forces(settings, urls)
        added = bootstrap.added_forces(settings, urls)  # `tenant add` while the demo runs
        await bootstrap.each_force(lambda c: bootstrap.gate(c, counters), each, added)(stop)

    def status(self) -> str:
        c = self.counters
        if c is None:
            return "starting"
        return f"checked {c.checked}, quarantined {sum(c.quarantined.values())}"


class ProjectionsService:
    """The projection runner: the log's read models in PostgreSQL (issue 4)."""

    def __init__(self) -> None:
        self.summary = "starting"

    async def run(self, urls: RuntimeUrls, settings: Settings, stop: asyncio.Event) -> None:
        from prestacop import bootstrap

        def progress(workers: list, heads: dict[str, int]) -> None:
            lag = max((w.lag(heads) for w in workers), default=0)
            dead = sum(w.dead for w in workers)
            self.summary = f"{len(workers)} views, lag {lag} events" + (
                f", {dead} dead letters" if dead else ""
            )

        each = bootstrap.forces(settings, urls)  # every force of the home, one runner
        added = bootstrap.added_forces(settings, urls)
        await bootstrap.projections(urls, on_progress=progress, forces=each, added=added)(stop)

    def status(self) -> str:
        return self.summary


def services(options: SimulationOptions) -> list[Service]:
    """Everything the demo starts, in order. One line per service."""
    fleet, gate, views = FleetService(options), GateService(), ProjectionsService()
    return [
        Service("drones (simulator)", fleet.run, status=fleet.status),
        Service("validation gate", gate.run, status=gate.status),
        Service("projections", views.run, needs_postgres=True, status=views.status),
    ]
