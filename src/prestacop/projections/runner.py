"""The projection runner: read the log once, feed every build, commit exactly once.

Every force's events go into one set of builds: each force has its own account
(streams of the same names), read with that force's service credentials, so a
position is per force and stream (``position_key``). One reader per force and
stream starts just after the lowest position any build has committed there; each
chunk is decoded once and fed to every build that reads that stream (each skips
what it already has). Builds write in threads.
A build being rebuilt (``swap_when_caught_up``) is swapped in atomically once
it has reached where the log was at the previous check.

When a build is retired by a swap elsewhere or another runner moved it, the
runner starts a new generation: it reloads the live builds and their positions.
A force added to the home while it runs (``discover``) joins the running
generation: its readers are added beside the others, which go on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from nats.errors import Error as NatsError

from prestacop.ports.log import LogReader, LogSource, timestamp
from prestacop.ports.projection import (
    LAYOUT,
    Build,
    Envelope,
    PositionMoved,
    Projection,
    ProjectionStore,
    Retired,
    position_key,
    split_key,
)
from prestacop.projections.catalog import select
from prestacop.projections.decoding import decode_chunk
from prestacop.projections.watchdog import RUNNER_ID, Watchdog
from prestacop.projections.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerOptions:
    batch: int = 5_000
    """Most events per transaction (whole chunks; a chunk is at most ``chunk``)."""
    fill_batch: int | None = None
    """The same for a build not yet live (a rebuild); None: 2x ``batch``. Nobody waits on
    its commits, and each transaction has a dozen fixed statements per view: fewer, larger
    transactions cost less CPU per event. 4x raised a 1M-event rebuild's peak RSS from 133
    to 181 MB (each writer holds its batch's rows); 2x, 138 MB."""
    chunk: int = 1_000
    backlog_bytes: int = 4 << 20
    """Payload bytes queued for one build before reading pauses: ~11k events of a drone
    log, ~8 MB once decoded (~2x their payload). In bytes, not events, so that large
    events cannot raise the bound; small, so that it fills early: a rebuild's peak is then
    reached early and stays (at 40,000 events it filled only on long logs: peak RSS 90 MB
    at 100k events, 146 MB at 1M; now 76 and 94 MB, bench/projections.py)."""
    read_buffer: int = 2_000
    """Messages each stream's reader holds or has asked for (two pull requests of
    ``chunk``): the backlog is the buffer that matters; 8,000 per stream held ~30k raw
    messages more while the writers lagged, at no gain in reading speed."""
    check_every: float = 0.25
    discover_every: float = 2.0
    """Seconds between two looks for forces added to the home (with ``discover``)."""


@dataclass
class Plan:
    """What to run: projection classes and how each build is chosen."""

    projections: Sequence[type[Projection]]
    sources: dict[str, str] = field(default_factory=dict)
    rebuild: bool = False
    """True: fill fresh builds beside the live ones and stop once all are swapped in."""
    tenants: dict[str, str] = field(default_factory=dict)
    """Projection name -> the force whose rights (and events) an analyst's projection has."""

    @classmethod
    def of(
        cls,
        names: Sequence[str] | None,
        custom: Sequence[str] = (),
        *,
        rebuild: bool = False,
        tenant: str | None = None,
    ) -> Plan:
        """The built-in views ``names`` (all when None) and ``custom`` projections; with
        ``tenant``, the custom ones run with that force's rights and events only."""
        projections, sources = select(names, custom)
        tenants = dict.fromkeys(sources, tenant) if tenant else {}
        return cls(projections, sources, rebuild=rebuild, tenants=tenants)


Logs = LogSource | Mapping[str, LogSource]
"""The log: one account (a ``LogSource``), or each force's own account by force name."""

Discover = Callable[[Collection[str]], Awaitable[Mapping[str, LogSource]]]
"""Given the forces read, the accounts of forces added since (by force name), opened."""


class Runner:
    def __init__(
        self,
        log: Logs,
        store: ProjectionStore,
        plan: Plan,
        options: RunnerOptions | None = None,
        on_progress: Callable[[list[Worker], dict[str, int]], None] | None = None,
        discover: Discover | None = None,
    ) -> None:
        self.logs: dict[str, LogSource] = dict(log) if isinstance(log, Mapping) else {"": log}
        self.discover = discover
        self.store = store
        self.plan = plan
        self.options = options or RunnerOptions()
        self.on_progress = on_progress
        self.workers: list[Worker] = []
        self.readers: list[LogReader] = []
        self.invalid: Counter[str] = Counter()
        self.heads: dict[str, int] = {}
        self._building: dict[str, Build] = {}

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                self.workers = await asyncio.to_thread(self._prepare)
                delay = 0.5  # PostgreSQL answered: the next outage starts from a short wait
                if await self._generation(stop):
                    return
            except (OperationalError, InterfaceError) as err:  # PostgreSQL away: wait, resume
                log.warning("PostgreSQL unavailable (%s); retrying in %.1fs", err, delay)
                # not asyncio.wait_for: it can lose a cancellation on 3.11 (CPython gh-86296)
                waiter = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({waiter}, timeout=delay)
                finally:
                    waiter.cancel()
                delay = min(delay * 2, 5.0)

    def _prepare(self) -> list[Worker]:
        self.store.setup()
        workers = []
        for cls in self.plan.projections:
            source = self.plan.sources.get(cls.name, f"{cls.__module__}:{cls.__qualname__}")
            tenant = self.plan.tenants.get(cls.name)
            live = self.store.live(cls.name)
            build = self._building.get(cls.name)
            outdated = live is not None and (live.version, live.layout) != (cls.version, LAYOUT)
            if build is None and (self.plan.rebuild or live is None or outdated):
                if live is not None and outdated:
                    log.warning(
                        "%s: live build is v%d (positions layout %d); filling v%d beside it",
                        cls.name,
                        live.version,
                        live.layout,
                        cls.version,
                    )
                build = self.store.create_build(cls, source, tenant)
                if live is None and not self.plan.rebuild:
                    self.store.swap(build)  # a first build: visible at once, filling
                    build = self.store.live(cls.name) or build
                else:
                    self._building[cls.name] = build
            if build is None or build.state == "live":
                build = live if build is None else build
                assert build is not None
                swap = False
            else:
                swap = True
            recorder = self.store.recorder(build, tenant)
            # a force's own projection reads its force's account only
            forces = [f for f in self.logs if tenant is None or f in ("", tenant)]
            keys = tuple(position_key(f, s) for f in forces for s in cls.streams)
            workers.append(
                Worker(
                    cls(),
                    build,
                    recorder,
                    live=not swap,
                    swap_when_caught_up=swap,
                    committed=recorder.positions(keys),
                    tenant=tenant,
                    keys=keys,
                )
            )
        return workers

    async def _generation(self, stop: asyncio.Event) -> bool:
        """Run until stopped (True), or until the builds must be reloaded (False)."""
        self.readers = []
        keys = sorted({k for w in self.workers for k in w.keys})
        readers = [await self._reader(key, self.workers) for key in keys]
        tasks = [asyncio.create_task(self._pump(r, k)) for r, k in zip(readers, keys, strict=True)]
        fill = self.options.fill_batch or 2 * self.options.batch
        tasks += [
            asyncio.create_task(w.write_loop(self.options.batch, self.options.backlog_bytes, fill))
            for w in self.workers
        ]
        if self.discover is not None and not self.plan.rebuild:
            tasks.append(asyncio.create_task(self._grow(self.discover)))
        monitor = asyncio.create_task(self._monitor())
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                [*tasks, monitor, stopper], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is stopper:
                    return True
                err = task.exception()
                if task is monitor and err is None:
                    return True  # a rebuild finished
                if isinstance(err, Retired | PositionMoved):
                    log.info("reloading builds: %s", err)
                    return False
                if err is not None:
                    raise err
            return False
        finally:
            await cancel_all([*tasks, monitor, stopper])
            for reader in self.readers:  # also those of forces that joined
                await reader.stop()
            for worker in self.workers:
                worker.recorder.close()

    async def _reader(self, key: str, workers: list[Worker]) -> LogReader:
        """A reader of ``key`` from just after the lowest position ``workers`` committed
        there; kept in ``readers``, stopped with the generation."""
        force, stream = split_key(key)
        start = min(w.committed.get(key, 0) for w in workers if key in w.keys)
        reader = await self.logs[force].reader(
            stream, start + 1, name="projections", buffer=self.options.read_buffer
        )
        self.readers.append(reader)
        return reader

    async def _pump(self, reader: LogReader, key: str) -> None:
        force, stream = split_key(key)
        targets = [w for w in self.workers if key in w.keys]
        while True:
            chunk = await reader.take(self.options.chunk, 1.0)
            if not chunk:
                continue
            envs = decode_chunk(stream, chunk, self.invalid)
            size = sum(len(m[2]) for m in chunk)
            if force and any(e.tenant != force for e in envs):
                envs = self._own(force, envs)
            first, last = chunk[0][0], chunk[-1][0]
            last_time = timestamp(chunk[-1][3])
            for w in targets:
                w.feed(key, first, last, envs, last_time, size)
            for w in targets:
                await w.room(self.options.backlog_bytes)

    def _own(self, force: str, envs: list[Envelope]) -> list[Envelope]:
        """A force's account holds that force's subjects only (its roles may write no other);
        a subject naming another force there is not taken as that force's event."""
        own = [e for e in envs if e.tenant == force]
        self.invalid["foreign_tenant"] += len(envs) - len(own)
        log.warning("%s: %d message(s) naming another force skipped", force, len(envs) - len(own))
        return own

    async def _grow(self, discover: Discover) -> None:
        """Every ``discover_every`` s, the forces added to the home join this generation
        (their readers beside the others'). Fails when one of their pumps does."""
        pumps: list[asyncio.Task[None]] = []
        try:
            while True:
                if pumps:  # a pump never ends but by failing
                    done, _ = await asyncio.wait(pumps, timeout=self.options.discover_every)
                    for task in done:
                        task.result()
                else:
                    await asyncio.sleep(self.options.discover_every)
                for force, source in (await discover(list(self.logs))).items():
                    self.logs[force] = source
                    pumps += await self._join(force)
        finally:
            await cancel_all(pumps)

    async def _join(self, force: str) -> list[asyncio.Task[None]]:
        """The builds that read every force start reading ``force`` where they have it
        (nothing, for a new force), with a reader per stream of its own."""
        joining = [w for w in self.workers if w.tenant in (None, force)]
        for w in joining:
            own = tuple(position_key(force, s) for s in w.streams)
            w.join(own, await asyncio.to_thread(self._positions, w, own))
        keys = [position_key(force, s) for s in sorted({s for w in joining for s in w.streams})]
        readers = [await self._reader(key, joining) for key in keys]
        pumps = [asyncio.create_task(self._pump(r, k)) for r, k in zip(readers, keys, strict=True)]
        log.warning("force %s added: %d stream(s) read from now on", force, len(pumps))
        return pumps

    def _positions(self, worker: Worker, keys: tuple[str, ...]) -> dict[str, int]:
        """Read over a recorder of its own: the worker's may be writing in another thread."""
        recorder = self.store.recorder(worker.build, worker.tenant)
        try:
            return recorder.positions(keys)
        finally:
            recorder.close()

    async def _monitor(self) -> None:
        """Heads of the log; swaps rebuilt builds in once they reached the previous heads.
        Returns when a rebuild run has swapped in all its builds."""
        previous: dict[str, int] | None = None
        watchdog = Watchdog()
        while True:
            try:
                heads = {}
                for key in sorted({k for w in self.workers for k in w.keys}):
                    force, stream = split_key(key)
                    heads[key] = (await self.logs[force].head(stream)).last_seq
            except NatsError as err:  # busy or reconnecting: ask again next round
                log.info("stream heads unavailable: %r", err)
                await asyncio.sleep(self.options.check_every)
                continue
            self.heads = heads
            await watchdog.tick(self.store, self.workers, heads)
            if previous is not None:
                for w in self.workers:
                    if w.swap_when_caught_up and not w.swapped.is_set() and w.lag(previous) == 0:
                        await asyncio.to_thread(self._swap, w)
            if self.on_progress is not None:
                self.on_progress(self.workers, heads)
            if self.plan.rebuild and all(w.swapped.is_set() for w in self.workers):
                return
            previous = heads
            await asyncio.sleep(self.options.check_every)

    def _swap(self, worker: Worker) -> None:
        replaced: Build | None = self.store.swap(worker.build)
        self._building.pop(worker.build.name, None)
        log.info(
            "%s: swapped in %s (replacing %s)",
            worker.build.name,
            worker.build.schema,
            replaced.schema if replaced else "nothing",
        )
        worker.live = True
        worker.swapped.set()


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again while any still runs: nats-py's
    requests await ``asyncio.wait_for``, which on 3.11 can swallow a cancellation that arrives
    as its reply does (CPython gh-86296); one lost cancel then hung the runner's stop forever."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:  # their errors are retrieved here: stopping is not failing
        if not task.cancelled():
            task.exception()


async def run_plan(
    log: Logs,
    store: ProjectionStore,
    plan: Plan,
    stop: asyncio.Event,
    options: RunnerOptions | None = None,
    on_progress: Callable[[list[Worker], dict[str, int]], None] | None = None,
    discover: Discover | None = None,
) -> Runner:
    """Run ``plan`` until ``stop`` is set (or, for a rebuild, until all is swapped in); the
    store forgets this runner at the end. The caller owns and closes ``log`` and ``store``
    (and what ``discover`` opened)."""
    runner = Runner(log, store, plan, options, on_progress, discover)
    try:
        await runner.run(stop)
    finally:
        if not plan.rebuild:
            with contextlib.suppress(Exception):  # PostgreSQL away: the heartbeat expires anyway
                await asyncio.to_thread(store.forget_runner, RUNNER_ID)
    return runner
