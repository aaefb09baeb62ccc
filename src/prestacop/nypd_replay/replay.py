"""The publishing side: batches of events → JetStream, with a durable checkpoint.

Exactly once in effect, whatever stops the run:
- every event carries ``Nats-Msg-Id`` = its summons-derived id (dedup window);
- after each run of fully acknowledged batches, the checkpoint (file position,
  counters, reject-file size, and a stream sequence ``floor`` below anything not
  yet acknowledged) is replaced atomically;
- a resumed run reads the stream above ``floor`` and skips the events found
  there, so a restart hours later (past the dedup window) still adds nothing twice;
- an unacknowledged batch (NATS down, ack lost) pauses the run, waits for the
  server, asks the stream what it holds, and resends only the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from nats.aio.client import Client
from nats.js import JetStreamContext

from prestacop.adapters.publisher import PubAck, Publisher, PublishError, PublishRejected
from prestacop.nypd_replay import checkpoint as ckpt
from prestacop.nypd_replay import source
from prestacop.nypd_replay.atomic import DUPLICATE_IN_BATCH, AtomicPublisher
from prestacop.nypd_replay.checkpoint import Checkpoint, Counters
from prestacop.nypd_replay.frames import Batch, Failed, Finished, Frame, Position, Started
from prestacop.nypd_replay.rejects import RejectFile
from prestacop.nypd_replay.stored import last_sequence, stored_ids

FrameSource = Callable[[str, str, Position | None, int, bool], AsyncIterator[Frame]]


class ReplayError(Exception):
    """The replay of a file cannot go on (unreadable file, unknown layout, log refusal)."""


class Listener(Protocol):
    """What the command line shows: progress and pauses."""

    def started(
        self, name: str, layout: str, total: int | None, resumed: Position | None
    ) -> None: ...
    def advanced(self, counters: Counters, progress: int) -> None: ...
    def status(self, message: str) -> None: ...


class Quiet:
    def started(self, name: str, layout: str, total: int | None, resumed: Position | None) -> None:
        pass

    def advanced(self, counters: Counters, progress: int) -> None:
        pass

    def status(self, message: str) -> None:
        pass


@dataclass
class ReplayOptions:
    tenant: str
    state_dir: Path
    rejects: Path
    batch_rows: int = 1000
    max_rate: float | None = None
    checkpoint_every_s: float = 0.5
    dry_run: bool = False
    strict_columns: bool = True


@dataclass
class FileResult:
    name: str
    layout: str
    counters: Counters
    resumed: bool = False
    already_done: bool = False
    error: str | None = None


@dataclass
class _InFlight:
    batch: Batch
    ids: list[str]
    futures: list[asyncio.Future[PubAck]]
    indexes: list[int]
    floor: int
    rejects_size: int


@dataclass
class _Log:
    nc: Client
    js: JetStreamContext
    publisher: Publisher
    atomic: AtomicPublisher | None = None
    """Set when the history stream takes atomic batches: one ack per batch."""


@dataclass
class FileReplay:
    """Replays one file; ``run`` returns its counters."""

    name: str
    opts: ReplayOptions
    frames: FrameSource
    log: _Log | None
    rejects: RejectFile
    listener: Listener = field(default_factory=Quiet)
    first: bool = True
    """First file of the run: a fresh start begins a fresh reject file."""
    counters: Counters = field(default_factory=Counters)
    _max_ack: int = 0
    _skip: set[str] = field(default_factory=set)

    async def run(self) -> FileResult:
        identity = source.identity(self.name) if not self.opts.dry_run else None
        state = ckpt.path_for(self.opts.state_dir, self.opts.tenant, identity) if identity else None
        previous = ckpt.load(state) if state else None
        if previous and previous.done:
            self.listener.status(f"{self.name}: already replayed to the log; nothing to do")
            return FileResult(self.name, previous.layout, previous.counters, True, True)
        start = previous.position if previous else None
        if previous:
            self.counters = previous.counters
        if previous and previous.rejects_path == str(self.rejects.path):
            self.rejects.cut(previous.rejects_size)
        elif previous is None and self.first:
            self.rejects.cut(0)
        if self.log is not None:
            await self._prepare(previous)
        return await self._replay(
            state, identity, start, self.rejects, resumed=previous is not None
        )

    async def _prepare(self, previous: Checkpoint | None) -> None:
        assert self.log is not None
        if previous is None:
            self._max_ack = await last_sequence(self.log.js)
            return
        self.listener.status(
            f"{self.name}: resuming after line {previous.position.line}; checking what the log"
            " already holds"
        )
        self._max_ack = previous.floor_seq
        self._skip = await stored_ids(self.log.nc, self.opts.tenant, previous.floor_seq)

    async def _replay(
        self,
        state: Path | None,
        identity: str | None,
        start: Position | None,
        rejects: RejectFile,
        *,
        resumed: bool,
    ) -> FileResult:
        layout = ""
        inflight: deque[_InFlight] = deque()
        position = start or Position()
        last_save = 0.0

        def checkpoint(done: bool = False) -> None:
            if state is None or identity is None:
                return
            floor = min((f.floor for f in inflight), default=self._max_ack)
            ckpt.save(
                state,
                Checkpoint(
                    identity=identity,
                    name=self.name,
                    tenant=self.opts.tenant,
                    position=position,
                    floor_seq=floor,
                    rejects_path=str(rejects.path),
                    rejects_size=settled_rejects,
                    counters=self.counters,
                    layout=layout,
                    done=done,
                    updated_at=datetime.now(UTC),
                ),
            )

        settled_rejects = rejects.size()
        checkpoint()  # before anything is sent: a crash from here on resumes from the floor
        paced_from = time.monotonic()
        paced_rows = 0
        frames = self.frames(
            self.name, self.opts.tenant, start, self.opts.batch_rows, self.opts.strict_columns
        )
        async with contextlib.aclosing(frames):  # reap the parse process as soon as it is done
            async for frame in frames:
                if isinstance(frame, Started):
                    layout = frame.layout
                    total = None if self.name == "-" else _size(self.name)
                    self.listener.started(self.name, layout, total, start if resumed else None)
                elif isinstance(frame, Failed):
                    await self._drain(inflight)
                    return FileResult(
                        self.name, layout, self.counters, resumed, error=frame.message
                    )
                elif isinstance(frame, Finished):
                    break
                else:
                    rejects.add(self.name, frame.rejects)
                    if self.opts.max_rate:
                        paced_rows += frame.rows
                        wait = paced_from + paced_rows / self.opts.max_rate - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)  # pacing, not synchronisation
                    inflight.append(await self._send(frame, rejects.size()))
                    while inflight and _settled(inflight[0]):
                        done = inflight.popleft()
                        await self._settle(done)
                        position, settled_rejects = done.batch.end, done.rejects_size
                    self.listener.advanced(self.counters, frame.progress)
                    if time.monotonic() - last_save >= self.opts.checkpoint_every_s:
                        checkpoint()
                        last_save = time.monotonic()
        while inflight:
            done = inflight.popleft()
            await self._settle(done)
            position, settled_rejects = done.batch.end, done.rejects_size
        self.listener.advanced(self.counters, 0)
        checkpoint(done=True)
        return FileResult(self.name, layout, self.counters, resumed)

    def _count(self, batch: Batch) -> None:
        c = self.counters
        c.rows_read += batch.rows
        c.blank_lines += batch.blank
        c.rejected += len(batch.rejects)
        for r in batch.rejects:
            c.rejected_by_reason[r.reason] = c.rejected_by_reason.get(r.reason, 0) + 1
        if self.log is None:  # dry run: valid events count as what would be sent
            c.events += len(batch.payloads)

    async def _send(self, batch: Batch, rejects_size: int) -> _InFlight:
        if self.log is not None and self.log.atomic is not None:
            return await self._send_atomic(batch, rejects_size)
        ids, futures, indexes = [], [], []
        if self.log is not None:
            publish = self.log.publisher.publish
            for i, (subject, msg_id, payload) in enumerate(
                zip(batch.subjects, batch.ids, batch.payloads, strict=True)
            ):
                if msg_id in self._skip:
                    self.counters.found_in_log += 1
                    continue
                futures.append(await publish(subject, payload, msg_id))
                ids.append(msg_id)
                indexes.append(i)
                if i % 256 == 255:
                    await asyncio.sleep(0)  # let acks and the next batch in
        return _InFlight(batch, ids, futures, indexes, self._max_ack, rejects_size)

    async def _send_atomic(self, batch: Batch, rejects_size: int) -> _InFlight:
        assert self.log is not None and self.log.atomic is not None
        indexes, seen = [], set()
        for i, msg_id in enumerate(batch.ids):
            if msg_id in self._skip:
                self.counters.found_in_log += 1
            elif msg_id in seen:  # the same summons twice in a batch: one event
                self.counters.duplicates += 1
            else:
                seen.add(msg_id)
                indexes.append(i)
        futures = [await self._publish_atomic(batch, indexes)] if indexes else []
        ids = [batch.ids[i] for i in indexes]
        return _InFlight(batch, ids, futures, indexes, self._max_ack, rejects_size)

    async def _publish_atomic(self, batch: Batch, indexes: list[int]) -> asyncio.Future[PubAck]:
        assert self.log is not None and self.log.atomic is not None
        if len(indexes) == len(batch.ids):
            return await self.log.atomic.publish_batch(batch.subjects, batch.payloads, batch.ids)
        return await self.log.atomic.publish_batch(
            [batch.subjects[i] for i in indexes],
            [batch.payloads[i] for i in indexes],
            [batch.ids[i] for i in indexes],
        )

    async def _settle_atomic(self, item: _InFlight) -> None:
        """Wait for a batch's single ack; if refused or lost, send what the log lacks."""
        assert self.log is not None
        fut = item.futures[0] if item.futures else None
        indexes, paused = item.indexes, False
        while fut is not None:
            try:
                ack = await fut
            except PublishRejected as err:
                if err.err_code != DUPLICATE_IN_BATCH:
                    raise ReplayError(f"the log refused a batch: {err}") from None
                # some ids are in the dedup window (sent recently, maybe by another run)
                await self._one_by_one(item, indexes)
                break
            except (TimeoutError, PublishError, OSError) as err:
                if not paused:
                    paused = True
                    self.listener.status(
                        f"NATS unreachable or not acknowledging ({err}): replay paused until"
                        " the server is back"
                    )
                await _wait_connected(self.log.nc)
            else:
                self._max_ack = max(self._max_ack, ack.seq)
                self.counters.events += len(indexes)
                break
            try:
                held = await stored_ids(self.log.nc, self.opts.tenant, item.floor)
            except Exception:  # server still starting: try again shortly
                await asyncio.sleep(0.5)
                fut = None
                held = None
            if held is None:
                fut = await self._publish_atomic(item.batch, indexes)
                continue
            rest = [i for i in indexes if item.batch.ids[i] not in held]
            self.counters.found_in_log += len(indexes) - len(rest)
            indexes = rest
            fut = await self._publish_atomic(item.batch, indexes) if indexes else None
        if paused:
            self.listener.status("NATS is back: replay resumed")

    async def _settle(self, item: _InFlight) -> None:
        """Wait for a batch's acks; resend what is missing until the log holds all of it.

        Counting happens here, not on receipt, so the counters saved with a
        checkpoint cover exactly the rows before its position.
        """
        self._count(item.batch)
        if self.log is not None and self.log.atomic is not None:
            await self._settle_atomic(item)
        else:
            await self._settle_messages(item)

    async def _one_by_one(self, item: _InFlight, indexes: list[int]) -> None:
        """Send a refused batch message by message: the log de-duplicates each one."""
        assert self.log is not None
        batch, publish = item.batch, self.log.publisher.publish
        futures = [
            await publish(batch.subjects[i], batch.payloads[i], batch.ids[i]) for i in indexes
        ]
        ids = [batch.ids[i] for i in indexes]
        await self._settle_messages(
            _InFlight(batch, ids, futures, indexes, item.floor, item.rejects_size)
        )

    async def _settle_messages(self, item: _InFlight) -> None:
        pending = list(range(len(item.futures)))
        futures = item.futures
        paused = False
        while True:
            results = await asyncio.gather(*(futures[i] for i in pending), return_exceptions=True)
            retry = []
            for i, result in zip(pending, results, strict=True):
                if isinstance(result, PubAck):
                    self._max_ack = max(self._max_ack, result.seq)
                    if result.duplicate:
                        self.counters.duplicates += 1
                    else:
                        self.counters.events += 1
                elif isinstance(result, PublishRejected):
                    raise ReplayError(f"the log refused {item.ids[i]}: {result}")
                elif isinstance(result, PublishError | OSError | asyncio.TimeoutError):
                    retry.append(i)
                else:
                    raise result  # type: ignore[misc]
            if not retry:
                if paused:
                    self.listener.status("NATS is back: replay resumed")
                return
            if not paused:
                paused = True
                self.listener.status(
                    f"NATS unreachable or not acknowledging ({len(retry)} events waiting):"
                    " replay paused until the server is back"
                )
            pending, futures = await self._resend(item, retry, futures)

    async def _resend(
        self, item: _InFlight, retry: list[int], futures: list[asyncio.Future[PubAck]]
    ) -> tuple[list[int], list[asyncio.Future[PubAck]]]:
        assert self.log is not None
        await _wait_connected(self.log.nc)
        try:
            held = await stored_ids(self.log.nc, self.opts.tenant, item.floor)
        except Exception:  # server still starting: try again shortly
            await asyncio.sleep(0.5)
            return retry, futures
        futures = list(futures)
        again = []
        batch = item.batch
        for i in retry:
            if item.ids[i] in held:
                self.counters.found_in_log += 1
                continue
            j = item.indexes[i]
            futures[i] = await self.log.publisher.publish(
                batch.subjects[j], batch.payloads[j], batch.ids[j]
            )
            again.append(i)
        return again, futures

    async def _drain(self, inflight: deque[_InFlight]) -> None:
        while inflight:
            await self._settle(inflight.popleft())


def _settled(item: _InFlight) -> bool:
    return all(f.done() for f in item.futures)


def _size(name: str) -> int | None:
    try:
        return Path(name).stat().st_size
    except OSError:
        return None


async def _wait_connected(nc: Client, poll: float = 0.2) -> None:
    while not nc.is_connected:
        if nc.is_closed:
            raise ReplayError("the NATS connection was closed")
        await asyncio.sleep(poll)
