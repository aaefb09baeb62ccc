"""``prestacop simulate``: fly a fleet of simulated drones over New York streets."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import TenantOption, fail, out, say, serve, settings, urls

if TYPE_CHECKING:
    from prestacop.simulator import SimulationOptions

DronesOption = typer.Option(10, "--drones", "-n", min=1, help="How many drones fly.")
RateOption = typer.Option(
    1.0, "--rate", "-r", min=0.001, help="Position reports per second, per drone."
)
DurationOption = typer.Option(
    None, "--duration", "-d", min=0.0, help="Stop after S seconds (default: Ctrl-C)."
)
ReviewRatioOption = typer.Option(
    0.01, "--review-ratio", min=0.0, max=1.0, help="Share of violations sent for human review."
)
ViolationRatioOption = typer.Option(
    0.05,
    "--violation-ratio",
    min=0.0,
    max=1.0,
    help="Chance that a patrolling drone's report comes with a violation.",
)
SeedOption = typer.Option(None, "--seed", help="Replay the same flights and vehicles.")


def register(app: typer.Typer) -> None:
    app.command()(simulate)


def simulate(
    drones: int = DronesOption,
    rate: float = RateOption,
    duration: float | None = DurationOption,
    tenant: str | None = TenantOption,
    review_ratio: float = ReviewRatioOption,
    violation_ratio: float = ViolationRatioOption,
    seed: int | None = SeedOption,
) -> None:
    """Fly N drones along New York streets: positions, violations with images, reviews.

    Sends drones x rate position reports a second through the drone SDK; uses
    NATS_URL or a running `prestacop up`.
    """
    from prestacop.bootstrap import open_log
    from prestacop.simulator import Simulator

    cfg = settings(tenant)
    found = urls(cfg)
    options = fleet_options(cfg.tenant, drones, rate, violation_ratio, review_ratio, seed)

    timed: list[asyncio.TimerHandle] = []
    flown: list[Simulator] = []

    async def fly(stop: asyncio.Event) -> Simulator:
        if duration is not None and not timed:  # the duration counts from the start, waits too
            timed.append(asyncio.get_running_loop().call_later(duration, stop.set))
        log = await open_log(found.nats_url, "prestacop-simulate")
        try:
            sim = Simulator(log, options)
            flown.append(sim)
            out.print(
                f"{drones} drones over New York, tenant {cfg.tenant}: "
                f"{drones * rate:g} positions/s (Ctrl-C stops)"
            )
            await sim.run(stop, duration)
            return sim
        finally:
            await log.close()

    serve(fly)
    if not flown:
        say(f"stopped before NATS at {found.nats_url} could be reached")
        raise typer.Exit(130)
    stats = flown[-1].stats
    out.print(
        f"positions {stats.positions_acked}/{stats.positions_sent} acked, "
        f"violations {stats.violations_acked}/{stats.violations_sent} "
        f"({stats.reviews_acked} for review), images {stats.image_bytes} bytes"
    )
    if stats.failures:
        fail(f"{stats.failures} messages not stored; last: {stats.last_error}")


def fleet_options(
    tenant: str,
    drones: int,
    rate: float,
    violation_ratio: float,
    review_ratio: float,
    seed: int | None,
) -> SimulationOptions:
    from prestacop.simulator import SimulationOptions

    try:
        return SimulationOptions(
            drones=drones,
            rate_hz=rate,
            violation_ratio=violation_ratio,
            review_ratio=review_ratio,
            seed=seed,
            tenant=tenant,
        )
    except ValueError as err:
        fail(str(err), 2)
