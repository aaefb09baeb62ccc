"""Running the console on an alert log the composition root opens (``bootstrap.console``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App

    from prestacop.alerts.ports import AlertLog

DEFAULT_CONTROL = "echo 'no PRESTACOP_CONTROL_CMD set: would take over {drone_id}'"


async def run_console_async(
    open_log: Callable[[], Awaitable[AlertLog]],
    tenant: str,
    officer_id: str,
    *,
    control_cmd: str | None = None,
    escalate_after_s: float = 120.0,
    image_dir: Path | None = None,
    stop: asyncio.Event | None = None,
    connect_timeout_s: float = 10.0,
    stats: Callable[[], Any] | None = None,
) -> None:
    """Open the tenant's alert log (``open_log``, run in a thread of its own), run the
    console until the officer quits, close the log.

    ``stop`` (e.g. the demo's) also ends the console when set. ``stats``: loads the
    statistics screen's figures (without it, the screen says it has none).
    """
    from prestacop.alerts.control import CommandControl
    from prestacop.alerts.threaded import ThreadedAlertLog
    from prestacop.domain.subjects import check_token
    from prestacop.operator_tui.app import ConsoleApp

    check_token(officer_id, "officer id")
    template = control_cmd if control_cmd is not None else DEFAULT_CONTROL
    opening = ThreadedAlertLog(open_log)
    try:
        alert_log = await opening.start(timeout=connect_timeout_s)
    except TimeoutError:
        raise TimeoutError(f"no answer from NATS within {connect_timeout_s:.0f}s") from None
    try:
        app = ConsoleApp(
            alert_log,
            officer_id,
            CommandControl(template),
            escalate_after=timedelta(seconds=escalate_after_s),
            image_dir=image_dir,
            freeze_gc=True,
            stats=stats,
        )
        watcher = asyncio.create_task(_exit_on(stop, app)) if stop is not None else None
        try:
            await app.run_async()
        finally:
            if watcher is not None:
                watcher.cancel()
    finally:
        await alert_log.close()


async def _exit_on(stop: asyncio.Event, app: App[None]) -> None:
    await stop.wait()
    app.exit()


def run_console(
    open_log: Callable[[], Awaitable[AlertLog]], tenant: str, officer_id: str, **options: Any
) -> None:
    """Run the officers' console in this terminal until the officer quits.

    ``options`` are those of ``run_console_async`` (control_cmd, escalate_after_s, ...).
    """
    asyncio.run(run_console_async(open_log, tenant, officer_id, **options))
