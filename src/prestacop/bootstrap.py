"""The composition root: the only place that builds real adapters from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from prestacop.adapters.images import ImageStore
from prestacop.adapters.nats_connection import StatusCallback, connect
from prestacop.adapters.publisher import Publisher
from prestacop.adapters.topology import ensure_topology
from prestacop.config import Settings
from prestacop.runtime.embedded import EmbeddedRuntime, RuntimeUrls


class NoServerError(Exception):
    """No server URL given and no embedded runtime running."""


def find_urls(settings: Settings) -> RuntimeUrls | None:
    """URLs from the environment, else from a live ``prestacop up`` in the same home."""
    live = RuntimeUrls.load_live(settings.home / "runtime.json")
    if settings.nats_url:
        return RuntimeUrls(
            settings.nats_url,
            settings.database_url or (live.database_url if live else None),
            0,
        )
    return live


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
