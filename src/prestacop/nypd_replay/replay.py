"""The replay of one file: frames in, batches out through a send strategy, checkpoints saved.

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
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from prestacop.nypd_replay import checkpoint as ckpt
from prestacop.nypd_replay import source
from prestacop.nypd_replay.checkpoint import Checkpoint, Counters
from prestacop.nypd_replay.frames import Batch, Failed, Finished, Frame, Position, Started
from prestacop.nypd_replay.manifest import Manifest
from prestacop.nypd_replay.rejects import RejectFile
from prestacop.nypd_replay.senders import PerMessage, ReplayError, Sender, Sending

__all__ = ["FileReplay", "FileResult", "Listener", "Quiet", "ReplayError", "ReplayOptions"]

FrameSource = Callable[[str, str, Position | None, int, bool], AsyncGenerator[Frame, None]]


class Listener(Protocol):
    """What the command line shows: progress and pauses."""

    def started(
        self, name: str, layout: str, total: int | None, resumed: Position | None
    ) -> None: ...
    def advanced(self, counters: Counters, progress: int, read: int) -> None:
        """``counters``: what is acknowledged (checkpointed); ``progress``: bytes of the
        source up to the last acknowledged batch (-1: the end); ``read``: rows read so far."""

    def status(self, message: str) -> None: ...


class Quiet:
    def started(self, name: str, layout: str, total: int | None, resumed: Position | None) -> None:
        pass

    def advanced(self, counters: Counters, progress: int, read: int) -> None:
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
class FileReplay:
    """Replays one file; ``run`` returns its counters."""

    name: str
    opts: ReplayOptions
    frames: FrameSource
    sender: Sender
    rejects: RejectFile
    listener: Listener = field(default_factory=Quiet)
    first: bool = True
    """First file of the run: a fresh start begins a fresh reject file."""
    counters: Counters = field(default_factory=Counters)
    _manifest: Manifest | None = None
    _saver: ckpt.Saver = field(default_factory=ckpt.Saver)

    async def run(self) -> FileResult:
        identity = None if self.sender.dry else source.identity(self.name)
        state = ckpt.path_for(self.opts.state_dir, self.opts.tenant, identity) if identity else None
        previous = ckpt.load(state) if state else None
        if isinstance(self.sender, PerMessage) and identity is not None:
            self._manifest = await Manifest(self.sender.log, self.opts.tenant, identity).open()
            previous, why = await self._manifest.choose(previous)
            if why:
                self.listener.status(f"{self.name}: {why}; using the log's own record")
        if previous and previous.done:
            self.listener.status(f"{self.name}: already replayed to the log; nothing to do")
            return FileResult(self.name, previous.layout, previous.counters, True, True)
        if previous and previous.rejects_path == str(self.rejects.path):
            self.rejects.cut(previous.rejects_size)
        elif previous is None and self.first:
            self.rejects.cut(0)
        if previous:
            self.counters = previous.counters
            self.listener.status(
                f"{self.name}: resuming after line {previous.position.line}; checking what the"
                " log already holds"
            )
        await self.sender.prepare(previous.floor_seq if previous else None)
        return await self._replay(state, identity, previous)

    async def _replay(
        self, state: Path | None, identity: str | None, previous: Checkpoint | None
    ) -> FileResult:
        start = previous.position if previous else None
        layout, rejects, sender = "", self.rejects, self.sender
        inflight: deque[Sending] = deque()
        position, settled_rejects = start or Position(), rejects.size()

        def checkpoint(done: bool = False) -> None:
            if state is None or identity is None:
                return
            floor = min((s.floor for s in inflight), default=sender.floor)
            self._save(state, Checkpoint(
                identity=identity, name=self.name, tenant=self.opts.tenant, position=position,
                floor_seq=floor, rejects_path=str(rejects.path), rejects_size=settled_rejects,
                counters=self.counters, layout=layout, done=done, updated_at=datetime.now(UTC),
                log_identity=self._manifest.identity if self._manifest else "",
            ))  # fmt: skip

        read, acked_at = self.counters.rows_read, 0  # rows as read; bytes as acknowledged

        async def settle() -> None:
            nonlocal position, settled_rejects, acked_at
            done = inflight.popleft()
            self._count(done.batch)
            await sender.settle(done, self.counters)
            position, settled_rejects = done.batch.end, done.rejects_size
            acked_at = done.batch.progress

        # Before anything is sent, on disk: a crash from then on resumes from the floor. Its
        # two fsyncs (in a thread) overlap the parsing of the first batch.
        checkpoint()
        first_saved = False
        last_save = paced_from = time.monotonic()
        paced_rows = 0
        frames = self.frames(
            self.name, self.opts.tenant, start, self.opts.batch_rows, self.opts.strict_columns
        )
        async with contextlib.aclosing(frames):  # reap the parse process as soon as it is done
            async for frame in frames:
                if isinstance(frame, Batch):
                    rejects.add(self.name, frame.rejects)
                    read += frame.rows
                    if self.opts.max_rate:
                        paced_rows += frame.rows
                        wait = paced_from + paced_rows / self.opts.max_rate - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)  # pacing, not synchronisation
                    if not first_saved:
                        await self._saver.flush()
                        first_saved = True
                    inflight.append(await sender.send(frame, rejects.size()))
                    while inflight and inflight[0].done():
                        await settle()
                    self.listener.advanced(self.counters, acked_at, read)
                    if time.monotonic() - last_save >= self.opts.checkpoint_every_s:
                        checkpoint()
                        last_save = time.monotonic()
                elif isinstance(frame, Started):
                    layout = frame.layout
                    total = None if self.name == "-" else _size(self.name)
                    self.listener.started(self.name, layout, total, start)
                elif isinstance(frame, Failed):
                    while inflight:
                        await settle()
                    await self._saver.flush()
                    return FileResult(self.name, layout, self.counters, previous is not None,
                                      error=frame.message)  # fmt: skip
                elif isinstance(frame, Finished):
                    break
        while inflight:
            await settle()
        self.listener.advanced(self.counters, -1, read)
        checkpoint(done=True)
        await self._saver.flush()
        if self._manifest is not None:
            await self._manifest.flush()
        return FileResult(self.name, layout, self.counters, previous is not None)

    def _save(self, state: Path, checkpoint: Checkpoint) -> None:
        """The local file (in a thread), and its copy in the log (``manifest``)."""
        self._saver.save_soon(state, checkpoint)
        if self._manifest is not None:
            self._manifest.save_soon(checkpoint)

    def _count(self, batch: Batch) -> None:
        c = self.counters
        c.rows_read += batch.rows
        c.blank_lines += batch.blank
        c.rejected += len(batch.rejects)
        for r in batch.rejects:
            c.rejected_by_reason[r.reason] = c.rejected_by_reason.get(r.reason, 0) + 1


def _size(name: str) -> int | None:
    try:
        return Path(name).stat().st_size
    except OSError:
        return None
