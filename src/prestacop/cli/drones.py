"""``prestacop simulate``: fly a fleet of simulated drones over New York streets."""

from __future__ import annotations

import asyncio
import signal

import typer

from prestacop.cli.common import TenantOption, fail, out, run, settings, urls


def register(app: typer.Typer) -> None:
    app.command()(simulate)


def simulate(
    drones: int = typer.Option(10, "--drones", "-n", min=1, help="How many drones fly."),
    rate: float = typer.Option(
        1.0, "--rate", "-r", min=0.001, help="Position reports per second, per drone."
    ),
    duration: float | None = typer.Option(
        None, "--duration", "-d", min=0.0, help="Stop after S seconds (default: Ctrl-C)."
    ),
    tenant: str | None = TenantOption,
    review_ratio: float = typer.Option(
        0.01, "--review-ratio", min=0.0, max=1.0, help="Share of violations sent for human review."
    ),
    violation_ratio: float = typer.Option(
        0.05,
        "--violation-ratio",
        min=0.0,
        max=1.0,
        help="Chance that a patrolling drone's report comes with a violation.",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Replay the same flights and vehicles."),
) -> None:
    """Fly N drones along New York streets: positions, violations with images, reviews.

    Sends drones x rate position reports a second through the drone SDK; uses
    NATS_URL or a running `prestacop up`.
    """
    from prestacop.bootstrap import open_log
    from prestacop.simulator import SimulationOptions, Simulator

    cfg = settings(tenant)
    found = urls(cfg)
    try:
        options = SimulationOptions(
            drones=drones,
            rate_hz=rate,
            violation_ratio=violation_ratio,
            review_ratio=review_ratio,
            seed=seed,
            tenant=cfg.tenant,
        )
    except ValueError as err:
        fail(str(err), 2)

    async def fly() -> Simulator:
        log = await open_log(found.nats_url, "prestacop-simulate")
        try:
            sim = Simulator(log, options)
            stop = asyncio.Event()
            stop_on_signals(stop)
            out.print(
                f"{drones} drones over New York, tenant {cfg.tenant}: "
                f"{drones * rate:g} positions/s (Ctrl-C stops)"
            )
            await sim.run(stop, duration)
            return sim
        finally:
            await log.close()

    stats = run(fly()).stats
    out.print(
        f"positions {stats.positions_acked}/{stats.positions_sent} acked, "
        f"violations {stats.violations_acked}/{stats.violations_sent} "
        f"({stats.reviews_acked} for review), images {stats.image_bytes} bytes"
    )
    if stats.failures:
        fail(f"{stats.failures} messages not stored; last: {stats.last_error}")


def stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C / SIGTERM end a run gracefully: what is in flight is acked first."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
