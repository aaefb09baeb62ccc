"""One build of one projection being filled: what it was fed, what it committed.

The runner feeds a worker decoded chunks of each stream; the worker's writer
turns whole chunks into one transaction (up to 5,000 events; 10,000 while a
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
    stream: str
    last_seq: int
    last_time: datetime | None
    envelopes: list[Envelope]
    messages: int


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
    fed: dict[str, int] = field(default_factory=dict)
    pending: deque[Segment] = field(default_factory=deque)
    pending_events: int = 0
    applied: int = 0
    dead: int = 0
    last_error: str | None = None
    rate: float = 0.0
    swapped: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _room: asyncio.Event = field(default_factory=asyncio.Event)
    _last_commit: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.fed = dict(self.committed)
        self._room.set()

    @property
    def streams(self) -> tuple[str, ...]:
        return self.projection.streams

    def feed(
        self,
        stream: str,
        first_seq: int,
        last_seq: int,
        envs: list[Envelope],
        last_time: datetime | None,
    ) -> None:
        """Queue a chunk of a stream; the part this build already has is skipped."""
        done = self.fed.get(stream, 0)
        if last_seq <= done:
            return
        if first_seq <= done:
            envs = [e for e in envs if e.seq > done]
        if self.tenant is not None:
            envs = [e for e in envs if e.tenant == self.tenant]
        self.fed[stream] = last_seq
        self.pending.append(
            Segment(stream, last_seq, last_time, envs, last_seq - max(done, first_seq - 1))
        )
        self.pending_events += len(envs)
        self._wake.set()

    async def room(self, limit: int) -> None:
        if self.pending_events > limit:
            self._room.clear()
            await self._room.wait()

    def take(self, max_events: int) -> tuple[list[Envelope], dict[str, Advance], dict[str, int]]:
        """Whole segments up to ``max_events``: the batch and the positions it moves."""
        envs: list[Envelope] = []
        advance: dict[str, Advance] = {}
        counts: dict[str, int] = {}
        while self.pending and (
            not envs or len(envs) + len(self.pending[0].envelopes) <= max_events
        ):
            seg = self.pending.popleft()
            envs.extend(seg.envelopes)
            prev = advance.get(seg.stream)
            expected = prev.expected if prev else self.committed.get(seg.stream, 0)
            advance[seg.stream] = Advance(expected, seg.last_seq, seg.last_time)
            counts[seg.stream] = counts.get(seg.stream, 0) + len(seg.envelopes)
        self.pending_events -= len(envs)
        return envs, advance, counts

    async def write_loop(self, max_events: int, limit: int, fill_events: int = 0) -> None:
        """Commit what was fed, batch after batch, until cancelled; batches of up to
        ``fill_events`` while the build is not live yet."""
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
            size = max_events if self.live else max(max_events, fill_events)
            envs, advance, counts = self.take(size)
            if self.pending_events <= limit // 2:
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
            for stream, adv in advance.items():
                self.committed[stream] = adv.new
            self.applied += result.applied
            if result.dead:
                self.dead += len(result.dead)
                self.last_error = result.dead[-1][1]

    def lag(self, heads: dict[str, int]) -> int:
        return sum(max(0, heads.get(s, 0) - self.committed.get(s, 0)) for s in self.streams)
