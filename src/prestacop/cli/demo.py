"""``prestacop demo``: the whole system on one machine, with live counts."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import typer

from prestacop.cli.common import TenantOption, fail, out, serve, settings
from prestacop.cli.drones import (
    DronesOption,
    DurationOption,
    RateOption,
    SeedOption,
    ViolationRatioOption,
    fleet_options,
)

if TYPE_CHECKING:
    from prestacop.demo.dashboard import Board
    from prestacop.runtime.embedded import RuntimeUrls


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    drones: int = DronesOption,
    rate: float = RateOption,
    duration: float | None = DurationOption,
    no_console: bool = typer.Option(
        False, "--no-console", help="No live screen: a line of counts every 5 s (for logs, CI)."
    ),
    counts: bool = typer.Option(
        False, "--counts", help="Show live counts instead of the officers' console."
    ),
    officer: str = typer.Option("demo-officer", "--officer", help="The console's officer id."),
    tenant: str | None = TenantOption,
    review_ratio: float = typer.Option(
        0.1,
        "--review-ratio",
        min=0.0,
        max=1.0,
        help="Share of violations sent for human review (a real fleet: ~0.01; the demo sends"
        " more so that the console has work).",
    ),
    violation_ratio: float = ViolationRatioOption,
    seed: int | None = SeedOption,
    insecure: bool = typer.Option(
        False, "--insecure", help="An open embedded server (no credentials, no TLS), on purpose."
    ),
) -> None:
    """Run PrestaCop: servers, topology, simulated drones, every service and the officers' console.

    On a terminal the officers' console takes the screen (`q` ends the demo); `--counts`
    shows live counts instead, and `--no-console` prints a line of counts every 5 s.

    Uses NATS_URL/DATABASE_URL or a running `prestacop up`; otherwise starts the
    embedded runtime under $PRESTACOP_HOME, secured as `prestacop up` (the force's account,
    its service credentials, TLS), and stops it on exit.
    """
    import asyncio

    from prestacop.bootstrap import servers
    from prestacop.demo.runner import headless, live_counts, run_demo
    from prestacop.demo.services import services
    from prestacop.runtime.embedded import EmbeddedRuntimeError

    cfg = settings(tenant)
    options = replace(
        fleet_options(cfg.tenant, drones, rate, violation_ratio, review_ratio, seed),
        first_for_review=1,  # an alert within seconds of the console opening
    )

    async def go(found: RuntimeUrls, stop: asyncio.Event) -> Board:
        foreground = headless if no_console or not out.is_terminal else live_counts
        if foreground is live_counts and not counts:
            from prestacop import bootstrap

            async def console(board: Board, stop: asyncio.Event) -> None:
                # the officer quitting the console ends the demo
                await bootstrap.console(found, cfg, officer, database_url=found.database_url)(stop)

            foreground = console
        return await run_demo(found, cfg, services(options), foreground, stop, duration=duration)

    try:
        with servers(cfg, secure=not insecure) as found:
            out.print(
                f"PrestaCop demo: NATS {found.nats_url}, PostgreSQL {found.database_url}",
                soft_wrap=True,
            )
            # the demo cancels its late services itself, and then sums up
            board = serve(lambda stop: go(found, stop), grace_s=3.0)
    except EmbeddedRuntimeError as err:
        fail(str(err))
    if board is None:
        raise typer.Exit(130)
    out.print(board.line(), soft_wrap=True, markup=False, highlight=False)
    failed = [f"{name}: {s.error}" for name, s in board.services.items() if s.state == "failed"]
    if failed:
        fail("; ".join(failed))
