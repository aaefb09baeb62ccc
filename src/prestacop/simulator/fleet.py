"""``Simulator``: N drones flying New York streets, reporting through the drone SDK.

All drones share one connection (``DroneClient(log=...)``). One drift-free
ticker paces the whole fleet (``drones x rate_hz`` position reports a second,
drones in turn); a patrolling drone sometimes spots a violation, photographs it
(a real PNG) and reports it, about 1% of them as "needs human review". The seed
fixes flights, vehicles and codes; message ids stay unique per run, so a re-run
is new traffic, not a duplicate.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prestacop.drone.client import DroneClient, new_id
from prestacop.ports.log import AckTimeout, ProducerLog, PubAck
from prestacop.simulator.flight import Flight
from prestacop.simulator.schedule import Ticker
from prestacop.simulator.sightings import Sighting, sight
from prestacop.simulator.streets import Street, nyc_streets

RESENDS = 3


@dataclass(frozen=True)
class SimulationOptions:
    drones: int = 10
    rate_hz: float = 1.0
    """Position reports per second, per drone."""
    violation_ratio: float = 0.05
    """Chance that a patrolling drone's report comes with a violation."""
    review_ratio: float = 0.01
    """Share of violations the drone cannot qualify and sends for human review (code 0)."""
    seed: int | None = None
    tenant: str = "nypd"
    drone_prefix: str = "sim"
    max_violations_in_flight: int = 32
    first_for_review: int = 0
    """The first N violations go to human review (the demo: the console has an alert at once)."""

    def __post_init__(self) -> None:
        if self.drones < 1:
            raise ValueError(f"drones must be at least 1, got {self.drones}")
        if not self.rate_hz > 0:
            raise ValueError(f"rate must be > 0 reports per second, got {self.rate_hz}")
        for name in ("violation_ratio", "review_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")


@dataclass
class SimulatorStats:
    """Live counters, read by ``prestacop demo`` and the summary."""

    positions_sent: int = 0
    positions_acked: int = 0
    violations_sent: int = 0
    violations_acked: int = 0
    reviews_acked: int = 0
    resends: int = 0
    failures: int = 0
    image_bytes: int = 0
    lag_s: float = 0.0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def positions_per_s(self) -> float:
        return self.positions_acked / max(time.monotonic() - self.started, 1e-9)


@dataclass
class _Drone:
    client: DroneClient
    flight: Flight


class Simulator:
    def __init__(
        self, log: ProducerLog, options: SimulationOptions, streets: tuple[Street, ...] = ()
    ) -> None:
        self.options = options
        self.stats = SimulatorStats()
        self._sighted = 0
        self._log = log
        self._rng = random.Random(options.seed)
        width = max(3, len(str(options.drones - 1)))
        self.drones = [
            _Drone(
                DroneClient(options.tenant, f"{options.drone_prefix}-{i:0{width}d}", log=log),
                Flight(random.Random(self._rng.getrandbits(64)), streets or nyc_streets()),
            )
            for i in range(options.drones)
        ]
        self._slots = asyncio.Semaphore(options.max_violations_in_flight)
        self._violations: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, duration: float | None = None) -> SimulatorStats:
        """Fly until ``stop`` is set (or ``duration`` seconds), then wait for every ack."""
        for drone in self.drones:
            await drone.client.connect()
        opts = self.options

        async def sleep(seconds: float) -> None:
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except TimeoutError:
                pass

        ticker = Ticker(opts.drones * opts.rate_hz, sleep=sleep)
        deadline = None if duration is None else time.monotonic() + duration
        self.stats.started = time.monotonic()
        turn = 0
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            for _ in range(await ticker.due()):
                if stop.is_set():
                    break
                await self._tick(self.drones[turn % opts.drones], 1.0 / opts.rate_hz)
                turn += 1
            self.stats.lag_s = ticker.lag_s
        await self.drain()
        return self.stats

    async def drain(self) -> None:
        if self._violations:
            await asyncio.gather(*self._violations, return_exceptions=True)
        await self._log.publisher.flush()

    async def _tick(self, drone: _Drone, dt: float) -> None:
        reading = drone.flight.step(dt)
        fut = await drone.client.report_position(
            round(reading.position.lat, 6),
            round(reading.position.lon, 6),
            altitude_m=round(reading.altitude_m, 1),
            heading_deg=round(reading.heading_deg, 1) % 360.0,
            speed_mps=round(reading.speed_mps, 2),
            battery_pct=round(reading.battery_pct, 2),
            wait=False,
        )
        self.stats.positions_sent += 1
        assert isinstance(fut, asyncio.Future)
        fut.add_done_callback(self._on_position)
        if reading.mode == "patrol" and self._rng.random() < self.options.violation_ratio:
            self._sighted += 1
            early = self._sighted <= self.options.first_for_review
            sighting = sight(  # drawn here, in tick order: the seed replays it
                self._rng,
                reading,
                review_ratio=1.0 if early else self.options.review_ratio,
                now=datetime.now(UTC),
                new_id=new_id,
            )
            await self._slots.acquire()
            task = asyncio.create_task(self._report(drone.client, sighting))
            self._violations.add(task)
            task.add_done_callback(self._violations.discard)

    def _on_position(self, fut: asyncio.Future[PubAck]) -> None:
        if fut.cancelled():  # exception() of a cancelled future raises
            self._failed(asyncio.CancelledError("the run stopped before the ack"))
        elif (err := fut.exception()) is not None:
            self._failed(err)
        else:
            self.stats.positions_acked += 1

    def _failed(self, err: BaseException) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(err).__name__}: {err}"

    async def _report(self, client: DroneClient, seen: Sighting) -> None:
        """Report one violation, resending with the same ids when an ack does not come."""
        self.stats.violations_sent += 1
        self.stats.image_bytes += len(seen.image)
        try:
            for attempt in range(RESENDS + 1):
                try:
                    await client.report_violation(
                        seen.code, seen.image, seen.latitude, seen.longitude, **seen.details
                    )
                    break
                except AckTimeout:
                    if attempt == RESENDS:
                        raise
                    self.stats.resends += 1
            self.stats.violations_acked += 1
            self.stats.reviews_acked += seen.needs_review
        except Exception as err:  # counted and shown, never lost: the summary fails the run
            self._failed(err)
        finally:
            self._slots.release()
