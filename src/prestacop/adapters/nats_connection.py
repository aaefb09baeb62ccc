"""Opening NATS connections that survive a server restart."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from nats.aio.client import Client

from prestacop.adapters.server_version import ServerTooOld, check_server

log = logging.getLogger(__name__)

StatusCallback = Callable[[str], Awaitable[None] | None]


class NatsUnreachable(ConnectionError):
    """The first connection failed: the server is down, the URL wrong or we are refused."""

    def __init__(self, url: str, cause: BaseException | None) -> None:
        if isinstance(cause, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(cause, socket.gaierror):
            reason = f"unknown host: {cause.strerror}"
        elif cause is None or isinstance(cause, TimeoutError):
            reason = "no answer"
        else:
            reason = str(cause) or type(cause).__name__
        super().__init__(f"cannot reach NATS at {url} ({reason})")
        self.url = url


async def connect(
    url: str,
    name: str,
    *,
    on_status: StatusCallback | None = None,
    connect_timeout: float = 5.0,
    **options: object,
) -> Client:
    """Connect once, then reconnect endlessly; ``on_status`` hears 'connected'/'disconnected'.

    The first attempt fails fast with :class:`NatsUnreachable` and its real cause (nats-py
    would retry it forever, silently): commands say what is wrong, services retry with
    their own backoff. Once connected, an outage pauses our programs instead of killing
    them: they keep their place and resume when the server is back.
    """
    failed: list[BaseException] = []
    first_failure = asyncio.Event()

    async def notify(state: str) -> None:
        if on_status is not None:
            result = on_status(state)
            if result is not None:
                await result

    opened: list[Client] = []

    async def disconnected() -> None:
        if not opened:  # a failed first attempt: NatsUnreachable says it
            return
        if opened[0].is_closed:  # our own close or drain, not an outage
            log.debug("%s: connection to NATS closed", name)
        else:
            log.warning("%s: disconnected from NATS", name)
        await notify("disconnected")

    async def reconnected() -> None:
        log.warning("%s: reconnected to NATS", name)
        await notify("connected")

    async def error(err: Exception) -> None:
        log.debug("%s: NATS error %r", name, err)
        if not opened:
            failed.append(err)
            first_failure.set()

    nc = Client()
    attempt = asyncio.create_task(
        nc.connect(
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
    )
    failure = asyncio.create_task(first_failure.wait())
    try:
        await asyncio.wait(
            (attempt, failure), timeout=connect_timeout + 1, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        failure.cancel()
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            await nc.close()
    if attempt.cancelled() or attempt.exception() is not None:
        raise NatsUnreachable(url, failed[0] if failed else attempt.exception())
    opened.append(nc)
    try:
        check_server(nc)
    except ServerTooOld:
        await nc.close()
        raise
    await notify("connected")
    return nc
