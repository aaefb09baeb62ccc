"""The composition root: the only place that builds real adapters from settings.

Every service below takes ports (``prestacop.ports``); here each one gets real adapters,
built from one ``Connection`` per service (NATS URL or comma list, ``.creds``, TLS CA,
force): the CLI, the demo, the benchmarks and the tests call these and nothing below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nats import errors as nats_errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import errors as js_errors

from prestacop.adapters.atomic import AtomicPublisher, no_atomic_batches, takes_atomic_batches
from prestacop.adapters.buckets import JetStreamBucket, log_identity
from prestacop.adapters.images import ImageStore
from prestacop.adapters.log_reader import JetStreamLog
from prestacop.adapters.nats_connection import (
    CredentialsError,
    NatsUnreachable,
    StatusCallback,
    connect,
)
from prestacop.adapters.postgres_check import DatabaseUnreachable, check_database
from prestacop.adapters.publisher import Publisher
from prestacop.adapters.topology import BOARDS_BUCKET, TopologyOptions, ensure_topology
from prestacop.config import Settings
from prestacop.runtime.embedded import EmbeddedRuntime, RuntimeUrls

if TYPE_CHECKING:
    import psycopg

    from prestacop.adapters.alert_feed import JetStreamAlertLog
    from prestacop.adapters.postgres_projections import ProjectionStore
    from prestacop.analysis.charts import Figures
    from prestacop.analysis.export import ExportResult
    from prestacop.drone.client import DroneClient
    from prestacop.gate.service import GateCounters
    from prestacop.nypd_replay.replay import Listener, ReplayOptions
    from prestacop.nypd_replay.run import Replayer
    from prestacop.projections.rebuild import Progress
    from prestacop.projections.runner import RunnerOptions
    from prestacop.projections.status import BuildStatus
    from prestacop.security.authority import AccountLimits, Authority, Role


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

FORCE_AWAY: tuple[type[BaseException], ...] = (*UNREACHABLE, CredentialsError)
"""What leaves one force out while the others are served (its account not pushed yet, its
credentials refused, its server away); all forces failing so is raised as before."""

log = logging.getLogger(__name__)

__all__ = ["UNREACHABLE", "DatabaseUnreachable", "NatsUnreachable", "check_database", "connect"]


@dataclass(frozen=True)
class Connection:
    """How one service reaches NATS: the URL (or a comma list of a cluster's), its ``.creds``
    (default ``$NATS_CREDS``), the CA it trusts (default ``$NATS_CA``), and its force."""

    url: str
    creds: str | Path | None = None
    tls_ca: str | Path | None = None
    tenant: str | None = None


Target = Connection | RuntimeUrls | str
"""Where a service connects: a ``Connection``, the servers found, or a bare URL."""


def connection(target: Target) -> Connection:
    if isinstance(target, Connection):
        return target
    if isinstance(target, RuntimeUrls):
        return Connection(target.nats_url)
    return Connection(target)


async def nats(target: Target, name: str, *, on_status: StatusCallback | None = None) -> Client:
    """One NATS connection for a service, with that service's credentials."""
    c = connection(target)
    return await connect(c.url, name, on_status=on_status, creds=c.creds, tls_ca=c.tls_ca)


async def log_source(target: Target, name: str) -> JetStreamLog:
    """The log as services read it (readers and heads) over a connection of its own."""
    return JetStreamLog(await nats(target, name))


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
def servers(
    settings: Settings, *, postgres: bool = True, secure: bool = True
) -> Iterator[RuntimeUrls]:
    """The servers to use: given or already running ones, else an embedded runtime for the
    block, secured by default (its force added; this process then acts for that force)."""
    urls = find_urls(settings)
    if urls is not None and (urls.database_url or not postgres):
        yield urls
        return
    with EmbeddedRuntime(settings.home, postgres=postgres, secure=secure) as started:
        if secure:
            act_for_force(settings, started)
        yield started


def act_for_force(settings: Settings, urls: RuntimeUrls) -> None:
    """On a secured runtime of our own: add the force (account, streams, images) if new, then
    connect as that force's services (its service .creds, the runtime's CA) from here on."""
    import os

    from prestacop.security.authority import Authority

    if urls.nats_ca:
        os.environ["NATS_CA"] = urls.nats_ca
    os.environ.pop("NATS_CREDS", None)  # whoever it named, it is not of this new runtime
    asyncio.run(add_tenant(urls.nats_url, settings.home, settings.tenant))
    os.environ["NATS_CREDS"] = str(Authority(settings.home).service_creds(settings.tenant))


async def add_tenant(
    target: Target,
    home: Path,
    tenant: str,
    *,
    limits: AccountLimits | None = None,
    topology: TopologyOptions | None = None,
) -> list[str]:
    """A force's account pushed to the running servers (system credentials), then its
    streams and image storage made in it (its service credentials); lines saying what was
    done. Raises ``runtime.tenants.PushError`` when the servers refuse the account."""
    from prestacop.runtime.tenants import ensure_when_enabled
    from prestacop.security.authority import Authority

    authority = Authority(home)
    await _push_account(target, authority, authority.add_tenant(tenant, limits))
    c = replace(connection(target), creds=authority.service_creds(tenant))
    nc = await nats(c, f"prestacop-setup-{tenant}")
    try:
        done = await ensure_when_enabled(nc.jetstream(timeout=10.0), topology, within_s=60.0)
    finally:
        await nc.drain()
    return [f"account {tenant} {authority.account_public(tenant)} pushed", *done]


async def revoke(target: Target, home: Path, tenant: str, role: Role, ident: str) -> None:
    """Refuse every credential issued to that user from now on (no restart)."""
    from prestacop.security.authority import Authority

    authority = Authority(home)
    await _push_account(target, authority, authority.revoke(tenant, role, ident))


async def _push_account(target: Target, authority: Authority, account_jwt: str) -> None:
    from prestacop.runtime.tenants import push_account

    system = replace(connection(target), creds=authority.system_creds)
    nc = await nats(system, "prestacop-accounts")
    try:
        await push_account(nc, account_jwt)
    finally:
        await nc.close()


async def setup_topology(target: Target, *, replicas: int | None = None) -> list[str]:
    """Create or update the streams of the log and the images (idempotent); what was done.
    ``replicas``: every stream's; None keeps each existing stream's (new ones get 1)."""
    nc = await nats(target, "prestacop-setup")
    try:
        topology = TopologyOptions(replicas=replicas or 1)
        return await ensure_topology(
            nc.jetstream(timeout=30.0), topology, update=True, keep_replicas=replicas is None
        )
    finally:
        await nc.drain()


@dataclass
class LogClient:
    """What a producer needs of the log: a connection, JetStream, a publisher, the images."""

    nc: Client
    js: JetStreamContext
    publisher: Publisher
    images: ImageStore

    @property
    def source(self) -> JetStreamLog:
        """The log to read back (readers and heads) over this connection."""
        return JetStreamLog(self.nc)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def closed(self) -> bool:
        return bool(self.nc.is_closed)

    async def batch_publisher(self, window: int, ack_timeout: float) -> AtomicPublisher | str:
        """Atomic batches into the history, or why not (said, never silent: slower)."""
        allowed = await takes_atomic_batches(self.js)
        if why_not := no_atomic_batches(self.nc.connected_server_version, allowed):
            return why_not
        return await AtomicPublisher(self.nc, window=window, ack_timeout=ack_timeout).start()

    async def identity(self) -> str:
        return await log_identity(self.js)

    async def bucket(self, name: str, description: str) -> JetStreamBucket:
        return await JetStreamBucket.open(self.js, name, description)

    async def listen(self, subject: str, callback: Callable[[bytes], None]) -> object:
        """Core messages on ``subject`` (a drone's feedback), while connected."""

        async def hear(msg: Msg) -> None:
            callback(msg.data)

        return await self.nc.subscribe(subject, cb=hear)

    async def close(self) -> None:
        await self.publisher.flush()
        await self.publisher.close()
        if not self.nc.is_closed:
            await self.nc.drain()


async def open_log(
    nats_url: Target,
    name: str,
    *,
    window: int = 1024,
    ack_timeout: float = 10.0,
    setup: bool = True,
    on_status: StatusCallback | None = None,
    creds: str | Path | None = None,
) -> LogClient:
    """``creds``: a ``.creds`` file (default ``$NATS_CREDS``; none on an open server)."""
    c = connection(nats_url)
    nc = await connect(c.url, name, on_status=on_status, creds=creds or c.creds, tls_ca=c.tls_ca)
    js = nc.jetstream()
    if setup:
        await ensure_topology(js)
    publisher = await Publisher(nc, window=window, ack_timeout=ack_timeout).start()
    return LogClient(nc, js, publisher, ImageStore(js))


@asynccontextmanager
async def log_client(nats_url: Target, name: str, **kwargs: Any) -> AsyncIterator[LogClient]:
    client = await open_log(nats_url, name, **kwargs)
    try:
        yield client
    finally:
        await client.close()


# The services, each built from the servers' URLs: what the CLI and the demo run. A service
# is ``async (stop) -> result``: it works until ``stop`` is set, and raises one of
# ``UNREACHABLE`` when a server is away (the CLI then waits for it and starts it again).
Service = Callable[[asyncio.Event], Awaitable[Any]]


def gate(urls: Target, counters: GateCounters | None = None) -> Service:
    return lambda stop: run_gate(urls, stop, counters=counters)


def forces(settings: Settings, urls: RuntimeUrls, tenant: str | None = None) -> list[Connection]:
    """How a service reaches each force: on the operator's machine (its own service creds, or
    none given), one connection per force this home's authority knows (or ``tenant`` only),
    each with that force's service credentials, so every force is served from its own
    account. On an open server, or with someone else's ``$NATS_CREDS``: the one connection."""
    import os

    from prestacop.security.authority import Authority

    authority = Authority(settings.home)
    known = authority.tenants()
    given = os.environ.get("NATS_CREDS")
    ours = {str(authority.service_creds_path(t)) for t in known}
    if not known or (given and given not in ours):
        return [Connection(urls.nats_url, tenant=tenant)]
    names = [tenant] if tenant else known
    return [Connection(urls.nats_url, authority.service_creds(t), tenant=t) for t in names]


Added = Callable[[Collection[str]], Awaitable[list[Connection]]]
"""Given the forces served, how to reach those added to the home since (``added_forces``)."""

WATCH_EVERY_S = 2.0
"""Seconds between two looks at the home's forces (a force added is served after at most)."""
READY_WAIT_MAX_S = 16.0
"""Most seconds between two looks at a force known but not answering."""


def added_forces(settings: Settings, urls: RuntimeUrls) -> Added | None:
    """For services serving every force of this home (``forces()`` per force): the forces
    added since (``prestacop tenant add``), each once ready: its account pushed (its service
    credentials are issued after the push) and its streams made (the bucket made last is
    there). None where there is nothing to watch (one account: open server, foreign creds)."""
    from prestacop.security.authority import Authority

    if "" in accounts(forces(settings, urls)):
        return None
    authority = Authority(settings.home)
    later: dict[str, tuple[float, float]] = {}  # force not ready -> (next look, wait)

    async def added(served: Collection[str]) -> list[Connection]:
        found, now = [], time.monotonic()
        for tenant in authority.tenants():
            creds = authority.service_creds_path(tenant)
            if tenant in served or not creds.is_file() or not creds.stat().st_size:
                continue
            if later.get(tenant, (0.0, 0.0))[0] > now:
                continue
            c = Connection(urls.nats_url, creds, tenant=tenant)
            if await _ready(c):
                later.pop(tenant, None)
                found.append(c)
            else:  # never pushed? looked at less and less often (each look is a refusal)
                wait = min(2 * later.get(tenant, (0.0, WATCH_EVERY_S / 2))[1], READY_WAIT_MAX_S)
                later[tenant] = (now + wait, wait)
        return found

    return added


async def _ready(c: Connection) -> bool:
    """The force's account answers with its topology made (``tenant add`` may be midway)."""
    try:
        nc = await nats(c, f"prestacop-watch-{c.tenant}")
    except Exception as err:  # not pushed yet, creds half-written: seen again next round
        log.debug("force %s not ready: %s", c.tenant, err)
        return False
    try:
        await nc.jetstream(timeout=5.0).stream_info(f"KV_{BOARDS_BUCKET}")
        return True
    except Exception as err:
        log.debug("force %s not ready: %s", c.tenant, err)
        return False
    finally:
        await nc.close()


def each_force(
    service: Callable[[Connection], Service],
    connections: list[Connection],
    added: Added | None = None,
) -> Service:
    """``service`` run once per force, side by side, and (with ``added``) for each force
    added to the home while running, within ``WATCH_EVERY_S``, the others untouched. All stop
    together; the first failure stops them all and is raised."""

    async def run(stop: asyncio.Event) -> None:
        tasks = {asyncio.ensure_future(service(c)(stop)): c.tenant or "" for c in connections}
        try:
            while not stop.is_set():
                done, _ = await asyncio.wait(tasks, timeout=WATCH_EVERY_S)
                if not all(_set_aside(t, tasks, added is not None) for t in done):
                    break
                for c in await added(tasks.values()) if added is not None else []:
                    log.warning("force %s added: served from now on", c.tenant)
                    tasks[asyncio.ensure_future(service(c)(stop))] = c.tenant or ""
            await asyncio.gather(*tasks)  # the first failure, at once
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return run


def _set_aside(task: asyncio.Future[Any], tasks: dict[Any, str], watched: bool) -> bool:
    """A force's service failed for want of its account (``FORCE_AWAY``) while others still
    run: it leaves ``tasks`` and is served again once ``added`` finds it ready; True.
    Anything else (or the last force failing) ends every force's service; False."""
    err = None if task.cancelled() else task.exception()
    running = [t for t in tasks if not t.done()]
    if not watched or not running or not isinstance(err, FORCE_AWAY):
        return False
    log.warning("force %s unreachable (%s): the others go on; retried", tasks.pop(task), err)
    return True


async def run_gate(
    target: Target,
    stop: asyncio.Event,
    *,
    streams: tuple[str, ...] | None = None,
    counters: GateCounters | None = None,
    ack_wait: float | None = None,
) -> None:
    """Run the gate until ``stop`` is set (the demo and ``prestacop gate run`` call this)."""
    from prestacop.gate import service

    client = await open_log(target, "prestacop-gate")
    gate = service.Gate(
        client.source,
        client.publisher,
        client.images,
        ack_wait=service.ACK_WAIT if ack_wait is None else ack_wait,
    )
    if counters is not None:
        gate.counters = counters
    try:
        await gate.run(stop, service.LIVE_STREAMS if streams is None else streams)
    finally:
        await client.close()


def projections(
    urls: RuntimeUrls,
    names: Sequence[str] | None = None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    on_progress: Progress | None = None,
    tenant: str | None = None,
    forces: Sequence[Connection] | None = None,
    added: Added | None = None,
) -> Service:
    """The projection runner; PostgreSQL is checked first, so a wrong URL, user or database
    is said with the server's words instead of a pool retrying forever. ``forces``: each
    force's account (``forces()``), all read by this one runner; default, ``urls``;
    ``added``: the forces added while it runs (``added_forces()``), read from then on."""

    async def run(stop: asyncio.Event) -> None:
        database_url = await asyncio.to_thread(_checked_database, urls)
        await run_projections(
            forces or urls, database_url, stop, names, custom,
            namespace=namespace, on_progress=on_progress, tenant=tenant, added=added,
        )  # fmt: skip

    return run


Sources = Target | Sequence[Connection]
"""What a projection runner reads: one account (a ``Target``), or ``forces()``."""


def accounts(sources: Sources) -> dict[str, Target]:
    """Each force's own account by force name, when ``sources`` are connections with a
    force's credentials (``forces()`` on the operator's machine); else the one account,
    under the name "" (an open server, or someone else's credentials)."""
    if isinstance(sources, Connection | RuntimeUrls | str):
        return {"": sources}
    if all(c.creds and c.tenant for c in sources):
        return {c.tenant or "": c for c in sources}
    if len(sources) != 1:
        raise ValueError("several connections, not each a force's own (creds and tenant)")
    return {"": sources[0]}


def projection_store(database_url: str, namespace: str = "prestacop") -> ProjectionStore:
    from prestacop.adapters.postgres_projections import ProjectionStore

    return ProjectionStore(database_url, namespace)


@asynccontextmanager
async def _log_and_store(
    sources: Sources, database_url: str, namespace: str, name: str, *, some: bool = False
) -> AsyncIterator[tuple[dict[str, JetStreamLog], ProjectionStore]]:
    """What a projection runner reads (the log of each account, by force) and writes,
    closed after the block (with the logs added to the dict meanwhile). ``some``: a force
    whose server does not answer is left out (said) when another's does."""
    logs: dict[str, JetStreamLog] = {}
    store = projection_store(database_url, namespace)
    failed: list[BaseException] = []
    try:
        for force, target in accounts(sources).items():
            try:
                logs[force] = await log_source(target, f"{name}-{force}" if force else name)
            except FORCE_AWAY as err:
                if not some:
                    raise
                log.warning("force %s unreachable (%s): read once it answers", force, err)
                failed.append(err)
        if failed and not logs:
            raise failed[0]
        yield logs, store
    finally:
        await asyncio.to_thread(store.close)
        for opened in logs.values():
            await opened.close()


async def run_projections(
    target: Sources,
    database_url: str,
    stop: asyncio.Event,
    names: Sequence[str] | None = None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    options: RunnerOptions | None = None,
    on_progress: Progress | None = None,
    tenant: str | None = None,
    added: Added | None = None,
) -> None:
    """Keep the built-in views (or ``names``) and ``custom`` projections up to date until
    ``stop`` is set, from one account or from each force's (``target``: ``forces()``), and
    from each force ``added`` while running. With ``tenant``, the custom projections run
    with that force's rights and events only."""
    from prestacop.projections.runner import Plan, run_plan

    plan = Plan.of(names, custom, tenant=tenant)
    name = "prestacop-projections"
    watched = added is not None
    async with _log_and_store(target, database_url, namespace, name, some=watched) as ports:
        logs, store = ports

        async def discover(served: Collection[str]) -> dict[str, JetStreamLog]:
            found = {}
            for c in await added(served) if added is not None else []:
                force = c.tenant or ""
                try:
                    found[force] = logs[force] = await log_source(c, f"{name}-{force}")
                except FORCE_AWAY as err:  # gone again since found ready: next round
                    log.warning("force %s unreachable (%s): read once it answers", force, err)
            return found

        await run_plan(logs, store, plan, stop, options, on_progress, discover if added else None)


async def rebuild(
    urls: RuntimeUrls,
    names: Sequence[str] | None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    on_progress: Progress | None = None,
    tenant: str | None = None,
    forces: Sequence[Connection] | None = None,
) -> list[str]:
    """``project rebuild``: from every force's account (``forces``), default ``urls``."""
    database_url = await asyncio.to_thread(_checked_database, urls)
    return await rebuild_projections(
        forces or urls, database_url, names, custom,
        namespace=namespace, on_progress=on_progress, tenant=tenant,
    )  # fmt: skip


async def rebuild_projections(
    target: Sources,
    database_url: str,
    names: Sequence[str] | None,
    custom: Sequence[str] = (),
    *,
    namespace: str = "prestacop",
    options: RunnerOptions | None = None,
    on_progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    tenant: str | None = None,
) -> list[str]:
    """Rebuild ``names`` (all built-ins when None) and ``custom``; returns the new schemas."""
    from prestacop.projections.rebuild import rebuild as rebuild_views

    async with _log_and_store(target, database_url, namespace, "prestacop-rebuild") as ports:
        return await rebuild_views(
            *ports, names, custom, options=options, on_progress=on_progress, stop=stop,
            tenant=tenant,
        )  # fmt: skip


def _rebuild_child(
    nats_url: str, database_url: str, names: list[str], namespace: str, conn: Any
) -> None:
    from prestacop.projections.parallel import peak_rss_kib

    schemas = asyncio.run(rebuild_projections(nats_url, database_url, names, namespace=namespace))
    conn.send((schemas, peak_rss_kib()))
    conn.close()


async def rebuild_in_processes(
    nats_url: str,
    database_url: str,
    names: Sequence[str] | None = None,
    *,
    namespace: str = "prestacop",
    processes: int = 2,
) -> tuple[list[str], list[int]]:
    """Rebuild built-in views ``names`` (all when None), one process per group; returns the
    new schemas and each process's peak RSS (KiB)."""
    from prestacop.projections.parallel import in_processes

    store = projection_store(database_url, namespace)  # once, not raced by the processes
    try:
        await asyncio.to_thread(store.setup)
    finally:
        await asyncio.to_thread(store.close)
    return await in_processes(
        _rebuild_child, (nats_url, database_url), names, namespace=namespace, processes=processes
    )


async def projection_status(
    urls: RuntimeUrls,
    namespace: str,
    streams_of: dict[str, tuple[str, ...]],
    forces: Sequence[Connection] | None = None,
) -> list[BuildStatus]:
    """``project status``: every build against the log's heads, per force with ``forces``
    (PostgreSQL checked first, after the server extra is found to be installed)."""
    import prestacop.adapters.postgres_projections  # noqa: F401  (the server extra, first)
    from prestacop.projections.status import collect

    database_url = await asyncio.to_thread(_checked_database, urls)

    async with _log_and_store(forces or urls, database_url, namespace, "prestacop-status") as io:
        logs, store = io
        return await collect(store, logs, streams_of)


async def alert_log(
    target: Target,
    tenant: str,
    *,
    name: str = "prestacop-console",
    setup: bool = True,
    heartbeat_s: float = 1.0,
    ack_timeout: float = 5.0,
) -> JetStreamAlertLog:
    """The force's alert log for a console, over a connection of its own; ``setup``: create
    the topology (an officer may not: the console passes False)."""
    from prestacop.adapters.alert_feed import JetStreamAlertLog

    log = JetStreamAlertLog(tenant, heartbeat_s=heartbeat_s)
    nc = await nats(target, name, on_status=log.on_connection)
    return await log.attach(nc, setup=setup, ack_timeout=ack_timeout)


def console(urls: Target, settings: Settings, officer: str, **options: Any) -> Service:
    """The officers' console (``options``: those of ``run_console_async``, and
    ``database_url`` for its statistics screen); its image cache lives under the home."""
    from prestacop.operator_tui.launch import run_console_async

    async def run(stop: asyncio.Event) -> None:
        options.setdefault("image_dir", settings.home / "images")
        database_url = options.pop("database_url", None)
        if database_url:  # the statistics screen's figures, from the force's statistics view
            options["stats"] = lambda: read_figures(database_url, settings.tenant)
        if options.get("control_cmd") is None:
            options["control_cmd"] = settings.control_cmd
        tenant = settings.tenant

        def opening() -> Awaitable[JetStreamAlertLog]:
            name = f"console-{officer}"
            return alert_log(urls, tenant, name=name, setup=False)

        try:
            await run_console_async(opening, tenant, officer, stop=stop, **options)
        except TimeoutError as err:
            raise NatsUnreachable(connection(urls).url, err) from None

    return run


def replayer(
    urls: Target | None,
    options: ReplayOptions,
    listener: Listener | None = None,
    **kwargs: Any,
) -> Replayer:
    """The NYPD replay (``urls`` None: a dry run, no server)."""
    from prestacop.nypd_replay.replay import Quiet
    from prestacop.nypd_replay.run import Replayer

    async def opening(on_status: StatusCallback, window: int, ack_timeout: float) -> LogClient:
        assert urls is not None
        return await open_log(
            urls, "prestacop-nypd-replay", window=window, ack_timeout=ack_timeout,
            on_status=on_status,
        )  # fmt: skip

    return Replayer(
        options,
        listener=listener if listener is not None else Quiet(),
        open_log=opening if urls is not None else None,
        **kwargs,
    )


def drone(
    tenant: str,
    drone_id: str,
    target: Target,
    *,
    window: int = 256,
    creds: str | Path | None = None,
    **options: Any,
) -> DroneClient:
    """A drone's client over a connection of its own, opened by ``connect()`` / ``async with``
    (``options``: those of ``DroneClient``)."""
    from prestacop.drone.client import DroneClient

    def opening() -> Awaitable[LogClient]:
        return open_log(target, f"drone-{drone_id}", window=window, setup=False, creds=creds)

    return DroneClient(tenant, drone_id, open_log=opening, **options)


def postgres(database_url: str) -> Callable[[], psycopg.Connection[Any]]:
    """Opens a PostgreSQL connection per call, for the services that read views."""
    import psycopg

    return lambda: psycopg.connect(database_url)


def create_analyst(database_url: str, tenant: str) -> tuple[str, str]:
    """The force's read-only analyst role, made (or given a new password) as the owner;
    (role, password)."""
    from psycopg.rows import dict_row

    from prestacop.adapters.postgres_security import create_analyst as create

    with postgres(database_url)() as conn, conn.cursor(row_factory=dict_row) as cur:
        role, password = create(cur, tenant)
        conn.commit()
    return role, password


def read_figures(database_url: str, tenant: str, **options: Any) -> Figures:
    """``prestacop stats`` and the console's statistics screen (``options``: those of
    ``analysis.charts.read_figures``)."""
    from prestacop.analysis import charts

    return charts.read_figures(postgres(database_url), tenant, **options)


def export_view(database_url: str, view: str, out: Path, **options: Any) -> ExportResult:
    """``prestacop export VIEW`` (``options``: those of ``analysis.export.export_view``)."""
    from prestacop.analysis import export

    return export.export_view(postgres(database_url), view, out, **options)


def _checked_database(urls: RuntimeUrls) -> str:
    if not urls.database_url:
        raise NoServerError("no PostgreSQL: set DATABASE_URL, or start `prestacop up`")
    check_database(urls.database_url)
    return urls.database_url
