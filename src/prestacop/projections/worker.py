"""One build of one projection being filled: what it was fed, what it committed.

The runner feeds a worker decoded chunks of each stream of each force's account
(positions by ``position_key``: the accounts' streams have the same names); the worker's
writer turns whole chunks into one transaction (up to 5,000 events; 10,000 while a
rebuild fills) in a thread, so reading the log and writing Postgres overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from prestacop.ports.projection import Advance, Build, Envelope, Projection, ViewStore


@dataclass
class Segment:
    key: str
    """The ``position_key`` (force and stream) the chunk moves."""
    last_seq: int
    last_time: datetime | None
    envelopes: list[Envelope]
    messages: int
    size: int = 0
    """Bytes of the chunk's payloads: what the backlog is counted in."""


@dataclass
class Worker:
    projection: Projection
    build: Build
    recorder: ViewStore
    live: bool
    swap_when_caught_up: bool
    committed: dict[str, int]
    tenant: str | None = None
    """A force's own projection sees that force's events only."""
    keys: tuple[str, ...] = ()
    """The positions it reads (``position_key``); default, its streams of the one account."""
    fed: dict[str, int] = field(default_factory=dict)
    pending: deque[Segment] = field(default_factory=deque)
    pending_events: int = 0
    pending_bytes: int = 0
    applied: int = 0
    dead: int = 0
    last_error: str | None = None
    rate: float = 0.0
    swapped: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _room: asyncio.Event = field(default_factory=asyncio.Event)
    _last_commit: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.keys = self.keys or self.projection.streams
        self.fed = dict(self.committed)
        self._room.set()

    @property
    def streams(self) -> tuple[str, ...]:
        return self.projection.streams

    def join(self, keys: tuple[str, ...], committed: dict[str, int]) -> None:
        """Read ``keys`` too (a force added while running), from what it committed there."""
        self.keys = (*self.keys, *(k for k in keys if k not in self.keys))
        for key, seq in committed.items():
            self.committed.setdefault(key, seq)
            self.fed.setdefault(key, seq)

    def feed(
        self,
        key: str,
        first_seq: int,
        last_seq: int,
        envs: list[Envelope],
        last_time: datetime | None,
        size: int = 0,
    ) -> None:
        """Queue a chunk of a stream (of a force: ``key``) of ``size`` payload bytes; what
        this build has is skipped."""
        done = self.fed.get(key, 0)
        if last_seq <= done:
            return
        if first_seq <= done:
            envs = [e for e in envs if e.seq > done]
        if self.tenant is not None:
            envs = [e for e in envs if e.tenant == self.tenant]
        self.fed[key] = last_seq
        self.pending.append(
            Segment(key, last_seq, last_time, envs, last_seq - max(done, first_seq - 1), size)
        )
        self.pending_events += len(envs)
        self.pending_bytes += size
        self._wake.set()

    async def room(self, limit: int) -> None:
        """Wait while more than ``limit`` payload bytes are queued (the writer frees room)."""
        if self.pending_bytes > limit:
            self._room.clear()
            await self._room.wait()

    def take(self, max_events: int) -> tuple[list[Envelope], dict[str, Advance], dict[str, int]]:
        """Whole segments up to ``max_events``: the batch and the positions it moves."""
        envs: list[Envelope] = []
        advance: dict[str, Advance] = {}
        counts: dict[str, int] = {}
        size = 0
        while self.pending and (
            not envs or len(envs) + len(self.pending[0].envelopes) <= max_events
        ):
            seg = self.pending.popleft()
            envs.extend(seg.envelopes)
            size += seg.size
            prev = advance.get(seg.key)
            expected = prev.expected if prev else self.committed.get(seg.key, 0)
            advance[seg.key] = Advance(expected, seg.last_seq, seg.last_time)
            counts[seg.key] = counts.get(seg.key, 0) + len(seg.envelopes)
        self.pending_events -= len(envs)
        self.pending_bytes -= size
        return envs, advance, counts

    async def write_loop(self, max_events: int, limit: int, fill_events: int = 0) -> None:
        """Commit what was fed, batch after batch, until cancelled; batches of up to
        ``fill_events`` while the build is not live yet. Reading resumes (``room``) once
        at most half of ``limit`` bytes are queued."""
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
            size = max_events if self.live else max(max_events, fill_events)
            envs, advance, counts = self.take(size)
            if self.pending_bytes <= limit // 2:
                self._room.set()
            result = await asyncio.to_thread(
                self.recorder.write,
                self.projection,
                envs,
                advance,
                live_name=self.build.name if self.live else None,
                counts=counts,
                rate=self.rate,
            )
            now = time.monotonic()
            instant = len(envs) / max(now - self._last_commit, 1e-3)
            self.rate = 0.8 * self.rate + 0.2 * instant if self.rate else instant
            self._last_commit = now
            for key, adv in advance.items():
                self.committed[key] = adv.new
            self.applied += result.applied
            if result.dead:
                self.dead += len(result.dead)
                self.last_error = result.dead[-1][1]

    def lag(self, heads: dict[str, int]) -> int:
        """Events behind ``heads`` (by ``position_key``)."""
        return sum(max(0, heads.get(k, 0) - self.committed.get(k, 0)) for k in self.keys)
