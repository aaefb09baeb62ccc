"""The composition root: the only place that builds real adapters from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nats import errors as nats_errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js import errors as js_errors

from prestacop.adapters.images import ImageStore
from prestacop.adapters.nats_connection import NatsUnreachable, StatusCallback, connect
from prestacop.adapters.postgres_check import DatabaseUnreachable, check_database
from prestacop.adapters.publisher import Publisher
from prestacop.adapters.topology import ensure_topology
from prestacop.config import Settings
from prestacop.runtime.embedded import EmbeddedRuntime, RuntimeUrls

if TYPE_CHECKING:
    from prestacop.gate.service import GateCounters
    from prestacop.nypd_replay.replay import Listener, ReplayOptions
    from prestacop.nypd_replay.run import Replayer
    from prestacop.projections.rebuild import Progress


class NoServerError(Exception):
    """No server URL given and no embedded runtime running."""


UNREACHABLE: tuple[type[BaseException], ...] = (
    NatsUnreachable,
    DatabaseUnreachable,
    ConnectionError,
    nats_errors.ConnectionClosedError,
    nats_errors.ConnectionReconnectingError,
    nats_errors.NoServersError,
    nats_errors.TimeoutError,
    js_errors.ServiceUnavailableError,
    nats_errors.NoRespondersError,
)
"""What a service waits out (retrying with backoff) rather than dies of: a server away."""

__all__ = ["UNREACHABLE", "DatabaseUnreachable", "NatsUnreachable", "check_database", "connect"]


def find_urls(settings: Settings) -> RuntimeUrls | None:
    """Each URL from the environment when set there, else from a live ``prestacop up``."""
    live = RuntimeUrls.load_live(settings.home / "runtime.json")
    nats_url = settings.nats_url or (live.nats_url if live else None)
    if nats_url is None:
        return None
    database_url = settings.database_url or (live.database_url if live else None)
    return RuntimeUrls(nats_url, database_url, live.nats_pid if live else 0)


def require_urls(settings: Settings, *, postgres: bool = False) -> RuntimeUrls:
    urls = find_urls(settings)
    if urls is None:
        raise NoServerError(
            "no NATS server: set NATS_URL, or start the embedded runtime with `prestacop up`"
        )
    if postgres and not urls.database_url:
        raise NoServerError("no PostgreSQL: set DATABASE_URL, or start `prestacop up`")
    return urls


@contextmanager
def servers(settings: Settings, *, postgres: bool = True) -> Iterator[RuntimeUrls]:
    """The servers to use: given or already running ones, else an embedded runtime for the block."""
    urls = find_urls(settings)
    if urls is not None and (urls.database_url or not postgres):
        yield urls
        return
    with EmbeddedRuntime(settings.home, postgres=postgres) as started:
        yield started


@dataclass
class LogClient:
    """What a producer needs of the log: a connection, JetStream, a publisher, the images."""

    nc: Client
    js: JetStreamContext
    publisher: Publisher
    images: ImageStore

    async def close(self) -> None:
        await self.publisher.flush()
        await self.publisher.close()
        if not self.nc.is_closed:
            await self.nc.drain()


async def open_log(
    nats_url: str,
    name: str,
    *,
    window: int = 1024,
    ack_timeout: float = 10.0,
    setup: bool = True,
    on_status: StatusCallback | None = None,
    creds: str | Path | None = None,
) -> LogClient:
    """``creds``: a ``.creds`` file (default ``$NATS_CREDS``; none on an open server)."""
    nc = await connect(nats_url, name, on_status=on_status, creds=creds)
    js = nc.jetstream()
    if setup:
        await ensure_topology(js)
    publisher = await Publisher(nc, window=window, ack_timeout=ack_timeout).start()
    return LogClient(nc, js, publisher, ImageStore(js))


@asynccontextmanager
async def log_client(nats_url: str, name: str, **kwargs: object) -> AsyncIterator[LogClient]:
    client = await open_log(nats_url, name, **kwargs)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


# The services, each built from the servers' URLs: what the CLI and the demo run. A service
# is ``async (stop) -> result``: it works until ``stop`` is set, and raises one of
# ``UNREACHABLE`` when a server is away (the CLI then waits for it and starts it again).
Service = Callable[[asyncio.Event], Awaitable[Any]]


def gate(urls: RuntimeUrls, counters: GateCounters | None = None) -> Service:
    from prestacop.gate.service import run_gate

    return lambda stop: run_gate(urls.nats_url, stop, counters=counters)


def projections(
    urls: RuntimeUrls,
    names: Sequence[str] | None = None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    on_progress: Progress | None = None,
    tenant: str | None = None,
) -> Service:
    """The projection runner; PostgreSQL is checked first, so a wrong URL, user or database
    is said with the server's words instead of a pool retrying forever."""
    from prestacop.projections.runner import run_projections

    async def run(stop: asyncio.Event) -> None:
        database_url = await asyncio.to_thread(_checked_database, urls)
        await run_projections(
            urls.nats_url,
            database_url,
            stop,
            names,
            custom,
            namespace=namespace,
            on_progress=on_progress,
            tenant=tenant,
        )

    return run


async def rebuild(
    urls: RuntimeUrls,
    names: Sequence[str] | None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    on_progress: Progress | None = None,
    tenant: str | None = None,
) -> list[str]:
    from prestacop.projections.rebuild import rebuild_projections

    database_url = await asyncio.to_thread(_checked_database, urls)
    return await rebuild_projections(
        urls.nats_url,
        database_url,
        names,
        custom,
        namespace=namespace,
        on_progress=on_progress,
        tenant=tenant,
    )


def console(urls: RuntimeUrls, settings: Settings, officer: str, **options: Any) -> Service:
    """The officers' console (``options``: those of ``run_console_async``); its image cache
    lives under the home, not in /tmp."""
    from prestacop.operator_tui.launch import run_console_async

    async def run(stop: asyncio.Event) -> None:
        options.setdefault("image_dir", settings.home / "images")
        try:
            await run_console_async(urls.nats_url, settings.tenant, officer, stop=stop, **options)
        except TimeoutError as err:
            raise NatsUnreachable(urls.nats_url, err) from None

    return run


def replayer(
    urls: RuntimeUrls | None, options: ReplayOptions, listener: Listener, **kwargs: Any
) -> Replayer:
    """The NYPD replay (``urls`` None: a dry run, no server)."""
    from prestacop.nypd_replay.run import Replayer

    return Replayer(options, urls.nats_url if urls else None, listener, **kwargs)


def _checked_database(urls: RuntimeUrls) -> str:
    if not urls.database_url:
        raise NoServerError("no PostgreSQL: set DATABASE_URL, or start `prestacop up`")
    check_database(urls.database_url)
    return urls.database_url
