"""Opening NATS connections that survive a server restart."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client

from prestacop.adapters.server_version import ServerTooOld, check_server

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None] | None]


async def connect(
    url: str,
    name: str,
    *,
    on_status: StatusCallback | None = None,
    connect_timeout: float = 5.0,
    **options: object,
) -> Client:
    """Connect with endless reconnects; ``on_status`` hears 'connected'/'disconnected'/...

    A NATS outage must pause our programs, not kill them: they keep their place
    and resume when the server is back.
    """

    async def notify(state: str) -> None:
        if on_status is not None:
            result = on_status(state)
            if result is not None:
                await result

    opened: list[Client] = []

    async def disconnected() -> None:
        if opened and opened[0].is_closed:  # our own close or drain, not an outage
            log.debug("%s: connection to NATS closed", name)
        else:
            log.warning("%s: disconnected from NATS", name)
        await notify("disconnected")

    async def reconnected() -> None:
        log.warning("%s: reconnected to NATS", name)
        await notify("connected")

    async def error(err: Exception) -> None:
        log.debug("%s: NATS error %r", name, err)

    nc = await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
        pending_size=8 * 1024 * 1024,
        **options,  # type: ignore[arg-type]
    )
    opened.append(nc)
    try:
        check_server(nc)
    except ServerTooOld:
        await nc.close()
        raise
    await notify("connected")
    return nc
